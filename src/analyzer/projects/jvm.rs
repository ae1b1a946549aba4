//! Maven (`pom.xml`) and Gradle (`build.gradle[.kts]`, `settings.gradle[.kts]`) builds.
//! The wrapper script (`./mvnw`, `./gradlew`) is used when the project ships one. The
//! manifests are scanned as text, not evaluated: dependencies and plugins are recognised by
//! their coordinates.

use super::{Commands, Family, Found, Tree, project};
use crate::analyzer::walk::Manifest;

/// Frameworks and test frameworks by a substring of the build file.
const JVM_FRAMEWORKS: &[(&str, &str)] = &[
    ("spring-boot", "Spring Boot"),
    ("org.springframework.boot", "Spring Boot"),
    ("io.quarkus", "Quarkus"),
    ("io.micronaut", "Micronaut"),
    ("io.ktor", "Ktor"),
    ("com.android.application", "Android"),
];
const JVM_TESTS: &[(&str, &str)] = &[
    ("junit", "JUnit"),
    ("useJUnitPlatform", "JUnit"),
    ("testng", "TestNG"),
    ("kotest", "Kotest"),
    ("spock", "Spock"),
];

fn scan_text(text: &str, table: &[(&str, &str)], out: &mut Vec<String>) {
    for &(needle, name) in table {
        if text.contains(needle) && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
}

/// `text` with every `<tag>...</tag>` section removed.
fn without_section(text: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        out.push_str(&rest[..start]);
        match rest[start..].find(&close) {
            Some(end) => rest = &rest[start + end + close.len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

fn element<'t>(text: &'t str, tag: &str) -> Option<&'t str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find('<')?;
    Some(text[start..start + end].trim())
}

pub(super) fn maven(m: &Manifest, tree: Tree<'_>) -> Found {
    let dir = m.dir();
    let kotlin = m.text.contains("kotlin-maven-plugin");
    let mut p = project(dir, "maven", m, if kotlin { "Kotlin" } else { "Java" });
    let own = without_section(&without_section(&m.text, "parent"), "dependencyManagement");
    p.name = element(&own, "artifactId").map(String::from);
    let deps = own.matches("<dependency>").count() as u32;
    let test_scoped = own.matches("<scope>test</scope>").count() as u32;
    p.dependencies.runtime = deps.saturating_sub(test_scoped);
    p.dependencies.dev = test_scoped;
    scan_text(&m.text, JVM_FRAMEWORKS, &mut p.frameworks);
    scan_text(&m.text, JVM_TESTS, &mut p.test_frameworks);
    let mvn = if tree.has(dir, "mvnw") { "./mvnw" } else { "mvn" };
    let spotless = m.text.contains("spotless-maven-plugin");
    p.commands = Commands {
        build: Some(format!("{mvn} -B compile")),
        lint: if spotless {
            Some(format!("{mvn} -B spotless:check"))
        } else if m.text.contains("maven-checkstyle-plugin") {
            Some(format!("{mvn} -B checkstyle:check"))
        } else {
            None
        },
        test: Some(format!("{mvn} -B test")),
        format: spotless.then(|| format!("{mvn} -B spotless:apply")),
    };
    let workspace = m.text.contains("<modules>");
    Found { project: p, family: Family::Maven, workspace, deps: Vec::new(), tables: None }
}

const GRADLE_RUNTIME: &[&str] =
    &["implementation", "api", "compileOnly", "runtimeOnly", "kapt", "ksp", "annotationProcessor"];
const GRADLE_DEV: &[&str] = &["testImplementation", "testCompileOnly", "testRuntimeOnly", "androidTestImplementation"];

/// A Gradle project per directory: the settings file when there is one (it makes the build a
/// multi-project workspace), else the build file.
pub(super) fn gradle(m: &Manifest, manifests: &[Manifest], tree: Tree<'_>) -> Option<Found> {
    let dir = m.dir();
    let is_settings = m.name().starts_with("settings.gradle");
    let sibling = |names: &[&str]| manifests.iter().find(|o| o.dir() == dir && names.contains(&o.name()));
    let build = if is_settings { sibling(&["build.gradle", "build.gradle.kts"]) } else { Some(m) };
    if !is_settings && sibling(&["settings.gradle", "settings.gradle.kts"]).is_some() {
        return None; // the settings file speaks for this directory
    }
    let text = build.map_or("", |b| b.text.as_str());
    let kotlin = text.contains("kotlin(") || text.contains("org.jetbrains.kotlin");
    let mut p = project(dir, "gradle", m, if kotlin { "Kotlin" } else { "Java" });
    if is_settings {
        p.name = m.text.lines().find_map(|l| {
            let v = l.trim().strip_prefix("rootProject.name")?.trim_start().strip_prefix('=')?;
            Some(v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        });
    }
    for line in text.lines().map(str::trim) {
        let word = line.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("");
        if GRADLE_RUNTIME.contains(&word) {
            p.dependencies.runtime += 1;
        } else if GRADLE_DEV.contains(&word) {
            p.dependencies.dev += 1;
        }
    }
    scan_text(text, JVM_FRAMEWORKS, &mut p.frameworks);
    scan_text(text, JVM_TESTS, &mut p.test_frameworks);
    let gradle = if tree.has_here_or_above(dir, "gradlew") { "./gradlew" } else { "gradle" };
    let plugin = |name: &str| text.contains(name);
    p.commands = Commands {
        build: Some(format!("{gradle} assemble")),
        lint: if plugin("spotless") {
            Some(format!("{gradle} spotlessCheck"))
        } else if plugin("ktlint") {
            Some(format!("{gradle} ktlintCheck"))
        } else if plugin("detekt") {
            Some(format!("{gradle} detekt"))
        } else if plugin("checkstyle") {
            Some(format!("{gradle} checkstyleMain"))
        } else {
            None
        },
        test: Some(format!("{gradle} test")),
        format: if plugin("spotless") {
            Some(format!("{gradle} spotlessApply"))
        } else if plugin("ktlint") {
            Some(format!("{gradle} ktlintFormat"))
        } else {
            None
        },
    };
    Some(Found { project: p, family: Family::Gradle, workspace: is_settings, deps: Vec::new(), tables: None })
}

#[cfg(test)]
mod tests {
    use super::super::{Commands, detect, test_file as file};
    use crate::analyzer::walk::Manifest;

    #[test]
    fn a_spring_boot_maven_project_with_the_wrapper() {
        let pom = "<project><parent><artifactId>spring-boot-starter-parent</artifactId></parent>\
                   <artifactId>shop</artifactId><dependencies>\
                   <dependency><artifactId>spring-boot-starter-web</artifactId></dependency>\
                   <dependency><artifactId>junit-jupiter</artifactId><scope>test</scope></dependency>\
                   </dependencies></project>";
        let m = Manifest { path: "pom.xml".into(), text: pom.into() };
        let (projects, _) = detect(&[m], &[file("mvnw"), file("pom.xml")]);
        let p = &projects[0];
        assert_eq!((p.name.as_deref(), p.language.as_str()), (Some("shop"), "Java"));
        assert_eq!(
            (p.frameworks.clone(), p.test_frameworks.clone()),
            (vec!["Spring Boot".to_string()], vec!["JUnit".to_string()])
        );
        assert_eq!((p.dependencies.runtime, p.dependencies.dev), (1, 1));
        assert_eq!(
            p.commands,
            Commands {
                build: Some("./mvnw -B compile".into()),
                lint: None,
                test: Some("./mvnw -B test".into()),
                format: None
            }
        );
    }

    #[test]
    fn a_multi_project_gradle_build_folds_its_subprojects() {
        let ms = [
            Manifest { path: "app/build.gradle.kts".into(), text: "plugins { kotlin(\"jvm\") }\ndependencies {\n  implementation(\"io.ktor:ktor-server-core:2\")\n  testImplementation(kotlin(\"test\"))\n}\ntasks.test { useJUnitPlatform() }\n".into() },
            Manifest { path: "settings.gradle.kts".into(), text: "rootProject.name = \"svc\"\ninclude(\"app\")\n".into() },
        ];
        let (projects, _) = detect(&ms, &[file("gradlew")]);
        assert_eq!(projects.len(), 1);
        let p = &projects[0];
        assert_eq!((p.dir.as_str(), p.name.as_deref(), p.members.clone()), (".", Some("svc"), vec!["app".to_string()]));
        assert_eq!((p.dependencies.runtime, p.dependencies.dev), (1, 1));
        assert_eq!(p.commands.test.as_deref(), Some("./gradlew test"));
    }
}
