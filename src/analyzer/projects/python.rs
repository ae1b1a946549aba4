//! Python projects: `pyproject.toml` (Poetry, uv, PDM, Hatch, setuptools or plain PEP 621),
//! `setup.py`/`setup.cfg`, `Pipfile` and `requirements*.txt`, grouped by directory. The tool
//! decides the command prefix (`uv run`, `poetry run`, ...); pytest runs only when it is
//! configured or declared, or test files exist.

use super::{Commands, Family, Found, FrameworkTables, Tree, normalize_dep, project};
use crate::analyzer::walk::Manifest;

static TABLES: FrameworkTables = FrameworkTables {
    frameworks: &[
        ("django", "Django"),
        ("flask", "Flask"),
        ("fastapi", "FastAPI"),
        ("starlette", "Starlette"),
        ("tornado", "Tornado"),
        ("aiohttp", "aiohttp"),
        ("pyramid", "Pyramid"),
        ("streamlit", "Streamlit"),
    ],
    test_frameworks: &[("pytest", "pytest"), ("hypothesis", "Hypothesis"), ("tox", "tox"), ("nox", "nox")],
};

/// The manifests of one directory.
#[derive(Default)]
struct Group<'a> {
    pyproject: Option<&'a Manifest>,
    setup_py: Option<&'a Manifest>,
    setup_cfg: Option<&'a Manifest>,
    pipfile: Option<&'a Manifest>,
    requirements: Vec<&'a Manifest>,
    pytest_ini: bool,
    tox_ini: Option<&'a Manifest>,
}

impl Group<'_> {
    fn is_project(&self) -> bool {
        self.pyproject.is_some()
            || self.setup_py.is_some()
            || self.pipfile.is_some()
            || !self.requirements.is_empty()
            || self.setup_cfg.is_some_and(|m| m.text.contains("[metadata]") || m.text.contains("[options]"))
    }
}

pub(super) fn detect(manifests: &[Manifest], tree: Tree<'_>) -> (Vec<Found>, Vec<String>) {
    let mut groups: Vec<(&str, Group<'_>)> = Vec::new();
    for m in manifests {
        let dir = m.dir();
        let slot = match groups.iter().position(|(d, _)| *d == dir) {
            Some(i) => i,
            None => {
                groups.push((dir, Group::default()));
                groups.len() - 1
            }
        };
        let g = &mut groups[slot].1;
        match m.name() {
            "pyproject.toml" => g.pyproject = Some(m),
            "setup.py" => g.setup_py = Some(m),
            "setup.cfg" => g.setup_cfg = Some(m),
            "Pipfile" => g.pipfile = Some(m),
            "pytest.ini" => g.pytest_ini = true,
            "tox.ini" => g.tox_ini = Some(m),
            name if name.starts_with("requirements") && name.ends_with(".txt") => g.requirements.push(m),
            _ => {}
        }
    }
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    for (dir, g) in groups.iter().filter(|(_, g)| g.is_project()) {
        match project_of(dir, g, tree) {
            Ok(f) => found.push(f),
            Err(e) => warnings.push(e),
        }
    }
    (found, warnings)
}

fn table<'t>(doc: &'t toml::Table, path: &[&str]) -> Option<&'t toml::Table> {
    let mut t = doc;
    for key in path {
        t = t.get(*key)?.as_table()?;
    }
    Some(t)
}

fn strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str()).map(normalize_dep).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

fn project_of(dir: &str, g: &Group<'_>, tree: Tree<'_>) -> Result<Found, String> {
    let doc: toml::Table = match g.pyproject {
        Some(m) => toml::from_str(&m.text).map_err(|_| format!("{}: invalid TOML", m.path))?,
        None => toml::Table::new(),
    };
    let mut runtime: Vec<String> = Vec::new();
    let mut dev: Vec<String> = Vec::new();

    // PEP 621, dependency groups (PEP 735) and uv.
    runtime.extend(strings(table(&doc, &["project"]).and_then(|p| p.get("dependencies"))));
    for extra in table(&doc, &["project", "optional-dependencies"]).into_iter().flat_map(|t| t.values()) {
        dev.extend(strings(Some(extra)));
    }
    for group in table(&doc, &["dependency-groups"]).into_iter().flat_map(|t| t.values()) {
        dev.extend(strings(Some(group)));
    }
    dev.extend(strings(table(&doc, &["tool", "uv"]).and_then(|t| t.get("dev-dependencies"))));
    // Poetry.
    if let Some(deps) = table(&doc, &["tool", "poetry", "dependencies"]) {
        runtime.extend(deps.keys().filter(|k| *k != "python").map(|k| normalize_dep(k)));
    }
    if let Some(deps) = table(&doc, &["tool", "poetry", "dev-dependencies"]) {
        dev.extend(deps.keys().map(|k| normalize_dep(k)));
    }
    for group in table(&doc, &["tool", "poetry", "group"]).into_iter().flat_map(|t| t.values()) {
        if let Some(deps) = group.get("dependencies").and_then(|d| d.as_table()) {
            dev.extend(deps.keys().map(|k| normalize_dep(k)));
        }
    }
    // Pipfile.
    if let Some(m) = g.pipfile {
        let pipfile: toml::Table = toml::from_str(&m.text).map_err(|_| format!("{}: invalid TOML", m.path))?;
        runtime.extend(table(&pipfile, &["packages"]).into_iter().flat_map(|t| t.keys()).map(|k| normalize_dep(k)));
        dev.extend(table(&pipfile, &["dev-packages"]).into_iter().flat_map(|t| t.keys()).map(|k| normalize_dep(k)));
    }
    // requirements*.txt: requirements-dev.txt, requirements-test.txt, ... are development.
    for m in &g.requirements {
        let names = requirement_lines(&m.text);
        let name = m.name();
        if ["dev", "test", "lint", "doc"].iter().any(|w| name.contains(w)) {
            dev.extend(names)
        } else {
            runtime.extend(names)
        }
    }
    // setup.py / setup.cfg: the quoted names in install_requires, approximately.
    if let Some(m) = g.setup_py {
        runtime.extend(setup_py_requires(&m.text));
    }
    if let Some(m) = g.setup_cfg {
        runtime.extend(setup_cfg_requires(&m.text));
    }

    let backend =
        table(&doc, &["build-system"]).and_then(|b| b.get("build-backend")).and_then(|b| b.as_str()).unwrap_or("");
    let has_tool = |name: &str| table(&doc, &["tool", name]).is_some();
    let tool = if tree.has(dir, "uv.lock") || has_tool("uv") {
        "uv"
    } else if tree.has(dir, "poetry.lock") || has_tool("poetry") {
        "poetry"
    } else if g.pipfile.is_some() {
        "pipenv"
    } else if tree.has(dir, "pdm.lock") || has_tool("pdm") {
        "pdm"
    } else if has_tool("hatch") || backend.starts_with("hatchling") {
        "hatch"
    } else if g.setup_py.is_some() || g.setup_cfg.is_some() || backend.starts_with("setuptools") {
        "setuptools"
    } else {
        "pip"
    };
    let prefix = match tool {
        "uv" | "poetry" | "pipenv" | "pdm" => format!("{tool} run "),
        _ => String::new(),
    };

    let manifest = g.pyproject.or(g.setup_py).or(g.pipfile).or(g.requirements.first().copied()).or(g.setup_cfg);
    let manifest = manifest.ok_or_else(|| format!("{dir}: no Python manifest"))?;
    let mut p = project(dir, tool, manifest, "Python");
    p.name = table(&doc, &["project"])
        .or_else(|| table(&doc, &["tool", "poetry"]))
        .and_then(|t| t.get("name"))
        .and_then(|n| n.as_str())
        .map(String::from);
    p.dependencies.runtime = runtime.len() as u32;
    p.dependencies.dev = dev.len() as u32;

    let files = tree.under(dir);
    let has_file = |name: &str| files.iter().any(|f| f.name() == name) || tree.has(dir, name);
    let declared = |name: &str| runtime.iter().chain(&dev).any(|d| d == name);
    let ini_section = |m: Option<&Manifest>, section: &str| m.is_some_and(|m| m.text.contains(section));
    let pytest_configured = table(&doc, &["tool", "pytest"]).is_some()
        || g.pytest_ini
        || has_file("conftest.py")
        || ini_section(g.setup_cfg, "[tool:pytest]")
        || ini_section(g.tox_ini, "[pytest]")
        || declared("pytest");
    let tests_exist = files.iter().any(|f| f.is_test && f.lang.is_some_and(|l| l.name() == "Python"));
    let ruff = has_tool("ruff") || tree.has(dir, "ruff.toml") || tree.has(dir, ".ruff.toml") || declared("ruff");
    let flake8 = tree.has(dir, ".flake8")
        || ini_section(g.setup_cfg, "[flake8]")
        || ini_section(g.tox_ini, "[flake8]")
        || declared("flake8");
    let black = has_tool("black") || declared("black");

    if pytest_configured || tests_exist {
        p.test_frameworks.push("pytest".into());
    }
    p.commands = Commands {
        build: None,
        lint: if ruff {
            Some(format!("{prefix}ruff check ."))
        } else if flake8 {
            Some(format!("{prefix}flake8"))
        } else {
            None
        },
        test: (pytest_configured || tests_exist).then(|| format!("{prefix}pytest")),
        format: if ruff {
            Some(format!("{prefix}ruff format ."))
        } else if black {
            Some(format!("{prefix}black ."))
        } else {
            None
        },
    };
    let workspace = table(&doc, &["tool", "uv", "workspace"]).is_some();
    let deps = runtime.into_iter().chain(dev).collect();
    Ok(Found { project: p, family: Family::Python, workspace, deps, tables: Some(&TABLES) })
}

/// Package names from a requirements file (options, includes and comments skipped).
fn requirement_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-') && !l.contains("://"))
        .map(normalize_dep)
        .filter(|n| !n.is_empty())
        .collect()
}

/// The quoted strings inside `install_requires=[...]` of a setup.py.
fn setup_py_requires(text: &str) -> Vec<String> {
    let Some(start) = text.find("install_requires") else { return Vec::new() };
    let rest = &text[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else { return Vec::new() };
    if close < open {
        return Vec::new();
    }
    rest[open + 1..close]
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\''))
        .filter(|s| !s.is_empty())
        .map(normalize_dep)
        .collect()
}

/// The indented lines after `install_requires =` in setup.cfg.
fn setup_cfg_requires(text: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with("install_requires"));
    let Some(first) = lines.next() else { return Vec::new() };
    let inline = first.split_once('=').map_or("", |(_, v)| v.trim());
    std::iter::once(inline)
        .chain(lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t') || l.trim().is_empty()).map(str::trim))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(normalize_dep)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Commands, Dependencies, Project, detect};
    use super::*;
    use crate::analyzer::lang::Lang;
    use crate::analyzer::walk::{FileEntry, Status};

    fn file(path: &str, is_test: bool) -> FileEntry {
        FileEntry {
            path: path.into(),
            lang: Lang::from_file_name(path.rsplit('/').next().unwrap()),
            status: Status::Scanned,
            bytes: 1,
            is_test,
            scan: Default::default(),
        }
    }

    fn run(manifests: &[(&str, &str)], files: &[(&str, bool)]) -> Vec<Project> {
        let ms: Vec<Manifest> =
            manifests.iter().map(|(p, t)| Manifest { path: (*p).into(), text: (*t).into() }).collect();
        let mut fs: Vec<FileEntry> = files.iter().map(|(p, t)| file(p, *t)).collect();
        fs.extend(manifests.iter().map(|(p, _)| file(p, false)));
        fs.sort_by(|a, b| a.path.cmp(&b.path));
        let (projects, warnings) = detect(&ms, &fs);
        assert!(warnings.is_empty(), "{warnings:?}");
        projects
    }

    #[test]
    fn a_uv_project_with_fastapi_pytest_and_ruff() {
        let pyproject = "[project]\nname = \"svc\"\ndependencies = [\"fastapi>=0.110\", \"uvicorn[standard]\"]\n\
                         [dependency-groups]\ndev = [\"pytest>=8\", \"ruff\"]\n[tool.ruff]\nline-length = 100\n";
        let projects = run(&[("pyproject.toml", pyproject)], &[("uv.lock", false), ("tests/test_api.py", true)]);
        assert_eq!(
            projects,
            vec![Project {
                dir: ".".into(),
                tool: "uv".into(),
                manifest: "pyproject.toml".into(),
                name: Some("svc".into()),
                language: "Python".into(),
                members: vec![],
                frameworks: vec!["FastAPI".into()],
                test_frameworks: vec!["pytest".into()],
                dependencies: Dependencies { runtime: 2, dev: 2 },
                commands: Commands {
                    build: None,
                    lint: Some("uv run ruff check .".into()),
                    test: Some("uv run pytest".into()),
                    format: Some("uv run ruff format .".into()),
                },
            }]
        );
    }

    #[test]
    fn poetry_projects_use_poetry_run() {
        let pyproject = "[tool.poetry]\nname = \"site\"\n[tool.poetry.dependencies]\npython = \"^3.11\"\nDjango = \"^5\"\n\
                         [tool.poetry.group.dev.dependencies]\npytest = \"*\"\nblack = \"*\"\n";
        let p = &run(&[("pyproject.toml", pyproject)], &[])[0];
        assert_eq!((p.tool.as_str(), p.frameworks.clone()), ("poetry", vec!["Django".to_string()]));
        assert_eq!(p.dependencies, Dependencies { runtime: 1, dev: 2 });
        assert_eq!(p.commands.test.as_deref(), Some("poetry run pytest"));
        assert_eq!(p.commands.format.as_deref(), Some("poetry run black ."));
    }

    #[test]
    fn requirements_only_runs_pytest_only_when_tests_exist() {
        let reqs = "# web\nflask==3.0\n-r base.txt\nrequests>=2 # http\n";
        let p = &run(&[("requirements.txt", reqs)], &[("app.py", false)])[0];
        assert_eq!((p.tool.as_str(), p.frameworks.clone()), ("pip", vec!["Flask".to_string()]));
        assert_eq!(p.dependencies.runtime, 2);
        assert_eq!(p.commands, Commands::default());
        let p = &run(&[("requirements.txt", reqs)], &[("test_app.py", true)])[0];
        assert_eq!(p.commands.test.as_deref(), Some("pytest"));
    }

    #[test]
    fn setup_py_and_setup_cfg_requirements() {
        assert_eq!(
            setup_py_requires("setup(name='x', install_requires=['click>=8', \"rich\"],)"),
            vec!["click", "rich"]
        );
        assert_eq!(
            setup_cfg_requires("[options]\ninstall_requires =\n    attrs>=20\n    six\npackages = find:\n"),
            vec!["attrs", "six"]
        );
        let p = &run(&[("setup.py", "install_requires=['flask']"), ("pytest.ini", "[pytest]\n")], &[])[0];
        assert_eq!((p.tool.as_str(), p.commands.test.as_deref()), ("setuptools", Some("pytest")));
    }
}
