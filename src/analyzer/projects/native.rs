//! Go modules (`go.mod`), Swift packages (`Package.swift`), CMake (`CMakeLists.txt`) and .NET
//! (`*.sln`, `*.csproj`, `*.fsproj`, `*.vbproj`). Manifests are read as text.

use super::{Commands, Family, Found, FrameworkTables, Tree, project};
use crate::analyzer::walk::Manifest;

static GO_TABLES: FrameworkTables = FrameworkTables {
    frameworks: &[
        ("github.com/gin-gonic/gin", "Gin"),
        ("github.com/labstack/echo*", "Echo"),
        ("github.com/gofiber/fiber*", "Fiber"),
        ("github.com/go-chi/chi*", "chi"),
        ("github.com/gorilla/mux", "Gorilla"),
        ("google.golang.org/grpc", "gRPC"),
        ("github.com/spf13/cobra", "Cobra"),
    ],
    test_frameworks: &[("github.com/stretchr/testify", "testify"), ("github.com/onsi/ginkgo*", "Ginkgo")],
};

pub(super) fn go(m: &Manifest, tree: Tree<'_>) -> Found {
    let dir = m.dir();
    let mut p = project(dir, "go", m, "Go");
    let mut deps = Vec::new();
    let mut in_block = false;
    for line in m.text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("module ") {
            p.name = Some(name.trim().to_string());
        }
        let spec = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line
        } else if line.starts_with("require (") {
            in_block = true;
            continue;
        } else if let Some(spec) = line.strip_prefix("require ") {
            spec
        } else {
            continue;
        };
        if spec.is_empty() || spec.starts_with("//") || spec.contains("// indirect") {
            continue;
        }
        if let Some(name) = spec.split_whitespace().next() {
            deps.push(name.to_string());
        }
    }
    p.dependencies.runtime = deps.len() as u32;
    let has_tests = tree.under(dir).iter().any(|f| f.path.ends_with("_test.go"));
    if has_tests {
        p.test_frameworks.push("go test".into());
    }
    p.commands = Commands {
        build: Some("go build ./...".into()),
        lint: Some("go vet ./...".into()),
        test: has_tests.then(|| "go test ./...".into()),
        format: Some("gofmt -w .".into()),
    };
    Found { project: p, family: Family::Go, workspace: false, deps, tables: Some(&GO_TABLES) }
}

pub(super) fn swift(m: &Manifest, tree: Tree<'_>) -> Found {
    let dir = m.dir();
    let mut p = project(dir, "swift", m, "Swift");
    p.name = m.text.split("name:").nth(1).and_then(|rest| rest.split('"').nth(1)).map(String::from);
    p.dependencies.runtime = m.text.matches(".package(").count() as u32;
    if m.text.to_ascii_lowercase().contains("vapor") {
        p.frameworks.push("Vapor".into());
    }
    let tests = m.text.contains(".testTarget(");
    if tests {
        p.test_frameworks.push("XCTest".into());
    }
    p.commands = Commands {
        build: Some("swift build".into()),
        lint: tree.has(dir, ".swiftlint.yml").then(|| "swiftlint".into()),
        test: tests.then(|| "swift test".into()),
        format: None,
    };
    Found { project: p, family: Family::Swift, workspace: false, deps: Vec::new(), tables: None }
}

pub(super) fn cmake(m: &Manifest, _tree: Tree<'_>) -> Found {
    let dir = m.dir();
    let lower = m.text.to_ascii_lowercase();
    let project_args = lower.find("project(").map(|i| &lower[i + 8..]).and_then(|r| r.split(')').next()).unwrap_or("");
    let c_only = project_args.contains("languages c") && !project_args.contains("cxx");
    let mut p = project(dir, "cmake", m, if c_only { "C" } else { "C++" });
    p.name = m
        .text
        .find("project(")
        .map(|i| &m.text[i + 8..])
        .and_then(|r| r.split(|c: char| c == ')' || c.is_whitespace()).find(|s| !s.is_empty()))
        .map(String::from);
    let testing =
        lower.contains("enable_testing(") || lower.contains("add_test(") || lower.contains("gtest_discover_tests");
    if lower.contains("gtest") || lower.contains("googletest") {
        p.test_frameworks.push("GoogleTest".into());
    }
    if lower.contains("catch2") {
        p.test_frameworks.push("Catch2".into());
    }
    if testing {
        p.test_frameworks.push("CTest".into());
    }
    p.dependencies.runtime = lower.matches("find_package(").count() as u32;
    p.commands = Commands {
        build: Some("cmake -S . -B build && cmake --build build".into()),
        lint: None,
        test: testing.then(|| "ctest --test-dir build".into()),
        format: None,
    };
    // Any CMakeLists.txt below belongs to this one (add_subdirectory).
    Found { project: p, family: Family::CMake, workspace: true, deps: Vec::new(), tables: None }
}

/// A solution, or a project file that no solution above it includes.
pub(super) fn dotnet(m: &Manifest, manifests: &[Manifest], _tree: Tree<'_>) -> Option<Found> {
    let name = m.name();
    let is_solution = name.ends_with(".sln");
    let language = match name.rsplit('.').next() {
        Some("fsproj") => "F#",
        Some("vbproj") => "Visual Basic",
        Some("csproj") => "C#",
        Some("sln") => "C#",
        _ => return None,
    };
    let dir = m.dir();
    let dir_key = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    // A solution speaks for every project file below it.
    let projects: Vec<&Manifest> = if is_solution {
        if manifests.iter().any(|o| o.name().ends_with(".sln") && o.dir() == dir && o.path < m.path) {
            return None; // one project per directory, whatever the number of solutions
        }
        manifests.iter().filter(|o| o.name().ends_with("proj") && o.path.starts_with(&dir_key)).collect()
    } else {
        vec![m]
    };
    let text: String = projects.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
    let mut p = project(dir, "dotnet", m, language);
    if !is_solution {
        p.name = name.rsplit_once('.').map(|(n, _)| n.to_string());
    }
    // A solution's members bring their own counts when they are folded in.
    if !is_solution {
        p.dependencies.runtime = text.matches("<PackageReference").count() as u32;
    }
    if text.contains("Microsoft.NET.Sdk.Web") || text.contains("Microsoft.AspNetCore") {
        p.frameworks.push("ASP.NET Core".into());
    }
    if text.contains("Microsoft.NET.Sdk.BlazorWebAssembly") || text.contains("Microsoft.AspNetCore.Components") {
        p.frameworks.push("Blazor".into());
    }
    for (needle, framework) in [("xunit", "xUnit"), ("NUnit", "NUnit"), ("MSTest", "MSTest")] {
        if text.contains(needle) {
            p.test_frameworks.push(framework.into());
        }
    }
    let tests = !p.test_frameworks.is_empty() || text.contains("Microsoft.NET.Test.Sdk");
    p.commands = Commands {
        build: Some("dotnet build".into()),
        lint: None,
        test: tests.then(|| "dotnet test".into()),
        format: Some("dotnet format".into()),
    };
    Some(Found { project: p, family: Family::Dotnet, workspace: is_solution, deps: Vec::new(), tables: None })
}

#[cfg(test)]
mod tests {
    use super::super::{Commands, Dependencies, detect, test_file as file};
    use crate::analyzer::walk::Manifest;

    fn manifest(path: &str, text: &str) -> Manifest {
        Manifest { path: path.into(), text: text.into() }
    }

    #[test]
    fn go_modules_count_direct_requirements() {
        let gomod = "module example.com/api\n\ngo 1.22\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.9.1\n\tgithub.com/stretchr/testify v1.9.0\n\tgolang.org/x/net v0.1.0 // indirect\n)\n\nrequire github.com/google/uuid v1.6.0\n";
        let (projects, _) = detect(&[manifest("go.mod", gomod)], &[file("api_test.go"), file("go.mod")]);
        let p = &projects[0];
        assert_eq!(p.name.as_deref(), Some("example.com/api"));
        assert_eq!(p.dependencies, Dependencies { runtime: 3, dev: 0 });
        assert_eq!(
            (p.frameworks.clone(), p.test_frameworks.clone()),
            (vec!["Gin".to_string()], vec!["go test".to_string(), "testify".to_string()])
        );
        assert_eq!(
            p.commands,
            Commands {
                build: Some("go build ./...".into()),
                lint: Some("go vet ./...".into()),
                test: Some("go test ./...".into()),
                format: Some("gofmt -w .".into()),
            }
        );
    }

    #[test]
    fn a_solution_covers_its_projects() {
        let ms = [
            manifest("App.sln", "Microsoft Visual Studio Solution File"),
            manifest(
                "src/Api/Api.csproj",
                "<Project Sdk=\"Microsoft.NET.Sdk.Web\"><ItemGroup><PackageReference Include=\"Serilog\" /></ItemGroup></Project>",
            ),
            manifest(
                "tests/Api.Tests/Api.Tests.csproj",
                "<Project Sdk=\"Microsoft.NET.Sdk\"><ItemGroup><PackageReference Include=\"Microsoft.NET.Test.Sdk\" /><PackageReference Include=\"xunit\" /></ItemGroup></Project>",
            ),
        ];
        let (projects, _) = detect(&ms, &[]);
        assert_eq!(projects.len(), 1, "{projects:?}");
        let p = &projects[0];
        assert_eq!(
            (p.frameworks.clone(), p.test_frameworks.clone()),
            (vec!["ASP.NET Core".to_string()], vec!["xUnit".to_string()])
        );
        assert_eq!(p.members, vec!["src/Api", "tests/Api.Tests"]);
        assert_eq!(p.commands.test.as_deref(), Some("dotnet test"));
    }

    #[test]
    fn cmake_tests_only_when_enabled() {
        let (projects, _) =
            detect(&[manifest("CMakeLists.txt", "project(calc LANGUAGES C)\nadd_executable(calc main.c)\n")], &[]);
        assert_eq!((projects[0].name.as_deref(), projects[0].language.as_str()), (Some("calc"), "C"));
        assert_eq!(projects[0].commands.test, None);
        let (projects, _) =
            detect(&[manifest("CMakeLists.txt", "project(app)\nenable_testing()\nfind_package(GTest)\n")], &[]);
        assert_eq!(projects[0].commands.test.as_deref(), Some("ctest --test-dir build"));
        assert_eq!(projects[0].test_frameworks, vec!["GoogleTest", "CTest"]);
    }

    #[test]
    fn swift_packages() {
        let text = "let package = Package(\n  name: \"Tool\",\n  dependencies: [.package(url: \"https://github.com/vapor/vapor.git\", from: \"4.0.0\")],\n  targets: [.target(name: \"Tool\"), .testTarget(name: \"ToolTests\")]\n)\n";
        let (projects, _) = detect(&[manifest("Package.swift", text)], &[]);
        let p = &projects[0];
        assert_eq!((p.name.as_deref(), p.frameworks.clone()), (Some("Tool"), vec!["Vapor".to_string()]));
        assert_eq!(p.commands.test.as_deref(), Some("swift test"));
    }
}
