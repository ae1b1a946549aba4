//! JavaScript and TypeScript packages (`package.json`): npm, yarn, pnpm or bun, chosen by
//! the lock file present (here or in a workspace above), else by `packageManager`.

use anyhow::Context;
use serde_json::Value;

use super::{Commands, Family, Found, FrameworkTables, Tree, project};
use crate::analyzer::walk::Manifest;

static TABLES: FrameworkTables = FrameworkTables {
    frameworks: &[
        ("next", "Next.js"),
        ("nuxt", "Nuxt"),
        ("@sveltejs/kit", "SvelteKit"),
        ("react", "React"),
        ("vue", "Vue"),
        ("@angular/core", "Angular"),
        ("svelte", "Svelte"),
        ("@nestjs/core", "NestJS"),
        ("express", "Express"),
        ("fastify", "Fastify"),
        ("koa", "Koa"),
        ("hono", "Hono"),
        ("@remix-run/*", "Remix"),
        ("astro", "Astro"),
        ("solid-js", "Solid"),
        ("electron", "Electron"),
        ("react-native", "React Native"),
    ],
    test_frameworks: &[
        ("jest", "Jest"),
        ("vitest", "Vitest"),
        ("mocha", "Mocha"),
        ("jasmine", "Jasmine"),
        ("ava", "AVA"),
        ("@playwright/test", "Playwright"),
        ("cypress", "Cypress"),
    ],
};

/// The package manager of a package in `dir`.
fn tool(dir: &str, manifest: &Value, tree: Tree<'_>) -> &'static str {
    let locks = [
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
        ("bun.lockb", "bun"),
        ("bun.lock", "bun"),
        ("package-lock.json", "npm"),
        ("npm-shrinkwrap.json", "npm"),
    ];
    for d in super::ancestors(dir) {
        if let Some((_, tool)) = locks.iter().find(|(lock, _)| tree.has(d, lock)) {
            return tool;
        }
    }
    let declared = manifest.get("packageManager").and_then(Value::as_str).unwrap_or("");
    ["pnpm", "yarn", "bun"].into_iter().find(|t| declared.starts_with(&format!("{t}@"))).unwrap_or("npm")
}

pub(super) fn detect(m: &Manifest, tree: Tree<'_>) -> anyhow::Result<Found> {
    let doc: Value = serde_json::from_str(&m.text).context("invalid JSON")?;
    let dir = m.dir();
    let tool = tool(dir, &doc, tree);
    let names = |key: &str| -> Vec<String> {
        doc.get(key).and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default()
    };
    let (runtime, dev) = (names("dependencies"), names("devDependencies"));
    let mut deps: Vec<String> = runtime.iter().chain(&dev).cloned().collect();
    deps.extend(names("peerDependencies"));
    let typescript = tree.has(dir, "tsconfig.json") || deps.iter().any(|d| d == "typescript");
    let mut p = project(dir, tool, m, if typescript { "TypeScript" } else { "JavaScript" });
    p.name = doc.get("name").and_then(Value::as_str).map(String::from);
    p.dependencies.runtime = runtime.len() as u32;
    p.dependencies.dev = dev.len() as u32;

    let script = |name: &str| doc.get("scripts").and_then(|s| s.get(name)).and_then(Value::as_str);
    let run = |name: &str| match tool {
        "npm" => format!("npm run {name}"),
        "bun" => format!("bun run {name}"),
        other => format!("{other} {name}"),
    };
    let test = script("test").filter(|s| !s.contains("no test specified"));
    if test.is_some_and(|s| s.contains("node --test")) {
        p.test_frameworks.push("node:test".into());
    }
    p.commands = Commands {
        build: script("build").map(|_| run("build")),
        lint: script("lint").map(|_| run("lint")),
        // `bun test` would run bun's own runner instead of the script.
        test: test.map(|_| if tool == "bun" { run("test") } else { format!("{tool} test") }),
        format: ["format", "fmt"].into_iter().find(|s| script(s).is_some()).map(run),
    };
    let workspace = doc.get("workspaces").is_some() || tree.has(dir, "pnpm-workspace.yaml");
    Ok(Found { project: p, family: Family::Node, workspace, deps, tables: Some(&TABLES) })
}

#[cfg(test)]
mod tests {
    use super::super::{Commands, detect, test_file as file};
    use crate::analyzer::walk::{FileEntry, Manifest};

    fn run(package: &str, files: &[&str]) -> super::super::Project {
        let m = Manifest { path: "package.json".into(), text: package.into() };
        let files: Vec<FileEntry> = files.iter().map(|f| file(f)).collect();
        let (mut projects, warnings) = detect(&[m], &files);
        assert!(warnings.is_empty(), "{warnings:?}");
        projects.remove(0)
    }

    #[test]
    fn scripts_decide_commands_and_the_lock_file_decides_the_tool() {
        let pkg = r#"{"name":"app","scripts":{"build":"vite build","test":"vitest run","lint":"eslint ."},
            "dependencies":{"react":"^18","react-dom":"^18"},"devDependencies":{"vitest":"1","typescript":"5"}}"#;
        let p = run(pkg, &["pnpm-lock.yaml"]);
        assert_eq!((p.tool.as_str(), p.language.as_str()), ("pnpm", "TypeScript"));
        assert_eq!(
            p.commands,
            Commands {
                build: Some("pnpm build".into()),
                lint: Some("pnpm lint".into()),
                test: Some("pnpm test".into()),
                format: None
            }
        );
        assert_eq!((p.frameworks, p.test_frameworks), (vec!["React".to_string()], vec!["Vitest".to_string()]));
        assert_eq!(run(pkg, &["yarn.lock"]).commands.build.as_deref(), Some("yarn build"));
        assert_eq!(run(pkg, &["bun.lockb"]).commands.test.as_deref(), Some("bun run test"));
        assert_eq!(run(pkg, &["package-lock.json"]).commands.build.as_deref(), Some("npm run build"));
    }

    #[test]
    fn the_npm_init_placeholder_test_script_is_no_test() {
        let p = run(
            r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"},"dependencies":{"express":"4"}}"#,
            &[],
        );
        assert_eq!(p.commands, Commands::default());
        assert_eq!((p.tool.as_str(), p.language.as_str()), ("npm", "JavaScript"));
        assert_eq!(p.frameworks, vec!["Express"]);
    }

    #[test]
    fn package_manager_field_is_used_without_a_lock_file() {
        let p = run(r#"{"packageManager":"yarn@4.1.0","scripts":{"format":"prettier -w ."}}"#, &[]);
        assert_eq!((p.tool.as_str(), p.commands.format.as_deref()), ("yarn", Some("yarn format")));
    }
}
