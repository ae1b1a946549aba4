//! `mmm analyze`: fixture projects for every supported stack, a monorepo, and the hard
//! cases of a walk (empty and non-git directories, binary and non-UTF-8 files, symlink
//! loops and links out of the tree, huge files, ignored and vendored code, secrets), the
//! score breakdown, the cache and the JSON shape.

use serde_json::{Value, json};

use crate::common::{Project, json_lines, stderr, stdout};

/// Runs `mmm analyze --output json` with `args` and returns the analysis object.
fn analyze(p: &Project, args: &[&str]) -> Value {
    let out = p.mmm().args(["--output", "json", "analyze"]).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let mut lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{}", stdout(&out));
    lines.remove(0)
}

fn with_files(p: &Project, files: &[(&str, &str)]) {
    for (path, content) in files {
        p.write(path, content);
    }
}

/// The parts of a project a test compares as one value.
fn summary(project: &Value) -> Value {
    json!({
        "dir": project["dir"],
        "tool": project["tool"],
        "language": project["language"],
        "frameworks": project["frameworks"],
        "test_frameworks": project["test_frameworks"],
        "commands": project["commands"],
    })
}

fn commands(build: Option<&str>, lint: Option<&str>, test: Option<&str>, format: Option<&str>) -> Value {
    json!({"build": build, "lint": lint, "test": test, "format": format})
}

struct Stack {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    primary: &'static str,
    tool: &'static str,
    language: &'static str,
    frameworks: &'static [&'static str],
    test_frameworks: &'static [&'static str],
    commands: [Option<&'static str>; 4],
}

const STACKS: &[Stack] = &[
    Stack {
        name: "cargo",
        files: &[
            (
                "Cargo.toml",
                "[package]\nname = \"svc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\naxum = \"0.7\"\n",
            ),
            ("src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n"),
        ],
        primary: "Rust",
        tool: "cargo",
        language: "Rust",
        frameworks: &["Axum"],
        test_frameworks: &["cargo test"],
        commands: [
            Some("cargo build --all-targets"),
            Some("cargo clippy --all-targets -- -D warnings"),
            Some("cargo test"),
            Some("cargo fmt --all"),
        ],
    },
    Stack {
        name: "npm",
        files: &[
            (
                "package.json",
                r#"{"name":"web","scripts":{"build":"webpack","test":"jest"},"dependencies":{"express":"^4.19.0"},"devDependencies":{"jest":"^29.0.0"}}"#,
            ),
            ("package-lock.json", "{}"),
            ("src/index.js", "const express = require('express');\nmodule.exports = express();\n"),
        ],
        primary: "JavaScript",
        tool: "npm",
        language: "JavaScript",
        frameworks: &["Express"],
        test_frameworks: &["Jest"],
        commands: [Some("npm run build"), None, Some("npm test"), None],
    },
    Stack {
        name: "yarn",
        files: &[
            (
                "package.json",
                r#"{"scripts":{"lint":"eslint .","test":"mocha"},"dependencies":{"fastify":"^4"},"devDependencies":{"mocha":"^10"}}"#,
            ),
            ("yarn.lock", "# yarn lockfile v1\n"),
            ("server.js", "const fastify = require('fastify')();\n"),
        ],
        primary: "JavaScript",
        tool: "yarn",
        language: "JavaScript",
        frameworks: &["Fastify"],
        test_frameworks: &["Mocha"],
        commands: [None, Some("yarn lint"), Some("yarn test"), None],
    },
    Stack {
        name: "pnpm",
        files: &[
            (
                "package.json",
                r#"{"scripts":{"build":"next build","lint":"next lint","test":"vitest run"},"dependencies":{"next":"14","react":"18"},"devDependencies":{"vitest":"1","typescript":"5"}}"#,
            ),
            ("pnpm-lock.yaml", "lockfileVersion: '9.0'\n"),
            ("tsconfig.json", "{}"),
            ("app/page.tsx", "export default function Page() {\n  return <main />;\n}\n"),
        ],
        primary: "TypeScript",
        tool: "pnpm",
        language: "TypeScript",
        frameworks: &["Next.js", "React"],
        test_frameworks: &["Vitest"],
        commands: [Some("pnpm build"), Some("pnpm lint"), Some("pnpm test"), None],
    },
    Stack {
        name: "bun",
        files: &[
            ("package.json", r#"{"scripts":{"test":"bun test","format":"prettier -w ."},"dependencies":{"hono":"4"}}"#),
            ("bun.lockb", "binary"),
            ("index.ts", "import { Hono } from 'hono';\nexport const app = new Hono();\n"),
        ],
        primary: "TypeScript",
        tool: "bun",
        language: "JavaScript",
        frameworks: &["Hono"],
        test_frameworks: &[],
        commands: [None, None, Some("bun run test"), Some("bun run format")],
    },
    Stack {
        name: "poetry",
        files: &[
            (
                "pyproject.toml",
                "[tool.poetry]\nname = \"site\"\n\n[tool.poetry.dependencies]\npython = \"^3.11\"\ndjango = \"^5.0\"\n\n[tool.poetry.group.dev.dependencies]\npytest = \"^8\"\n",
            ),
            ("poetry.lock", ""),
            ("site/views.py", "def index(request):\n    return None\n"),
        ],
        primary: "Python",
        tool: "poetry",
        language: "Python",
        frameworks: &["Django"],
        test_frameworks: &["pytest"],
        commands: [None, None, Some("poetry run pytest"), None],
    },
    Stack {
        name: "uv",
        files: &[
            (
                "pyproject.toml",
                "[project]\nname = \"api\"\ndependencies = [\"fastapi>=0.110\"]\n\n[dependency-groups]\ndev = [\"ruff\"]\n",
            ),
            ("uv.lock", "version = 1\n"),
            ("api/main.py", "from fastapi import FastAPI\n\napp = FastAPI()\n"),
            ("tests/test_main.py", "def test_app():\n    assert True\n"),
        ],
        primary: "Python",
        tool: "uv",
        language: "Python",
        frameworks: &["FastAPI"],
        test_frameworks: &["pytest"],
        commands: [None, Some("uv run ruff check ."), Some("uv run pytest"), Some("uv run ruff format .")],
    },
    Stack {
        name: "pip",
        files: &[
            ("requirements.txt", "flask==3.0.0\n"),
            ("app.py", "from flask import Flask\n\napp = Flask(__name__)\n"),
        ],
        primary: "Python",
        tool: "pip",
        language: "Python",
        frameworks: &["Flask"],
        test_frameworks: &[],
        commands: [None, None, None, None],
    },
    Stack {
        name: "setuptools",
        files: &[
            ("setup.py", "from setuptools import setup\n\nsetup(name='tool', install_requires=['click'])\n"),
            ("tool/cli.py", "import click\n"),
            ("test_cli.py", "def test_cli():\n    pass\n"),
        ],
        primary: "Python",
        tool: "setuptools",
        language: "Python",
        frameworks: &[],
        test_frameworks: &["pytest"],
        commands: [None, None, Some("pytest"), None],
    },
    Stack {
        name: "hatch",
        files: &[
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n[project]\nname = \"lib\"\ndependencies = []\n\n[tool.pytest.ini_options]\naddopts = \"-q\"\n\n[tool.black]\nline-length = 100\n",
            ),
            ("src/lib/__init__.py", "VERSION = '1'\n"),
        ],
        primary: "Python",
        tool: "hatch",
        language: "Python",
        frameworks: &[],
        test_frameworks: &["pytest"],
        commands: [None, None, Some("pytest"), Some("black .")],
    },
    Stack {
        name: "go",
        files: &[
            ("go.mod", "module example.com/svc\n\ngo 1.22\n\nrequire github.com/labstack/echo/v4 v4.11.0\n"),
            ("main.go", "package main\n\nfunc main() {}\n"),
            ("main_test.go", "package main\n\nimport \"testing\"\n\nfunc TestMain(t *testing.T) {}\n"),
        ],
        primary: "Go",
        tool: "go",
        language: "Go",
        frameworks: &["Echo"],
        test_frameworks: &["go test"],
        commands: [Some("go build ./..."), Some("go vet ./..."), Some("go test ./..."), Some("gofmt -w .")],
    },
    Stack {
        name: "maven",
        files: &[
            (
                "pom.xml",
                "<project><parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-parent</artifactId></parent><artifactId>shop</artifactId><dependencies><dependency><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-web</artifactId></dependency><dependency><groupId>org.junit.jupiter</groupId><artifactId>junit-jupiter</artifactId><scope>test</scope></dependency></dependencies></project>\n",
            ),
            (
                "src/main/java/shop/App.java",
                "package shop;\n\npublic class App {\n    public static void main(String[] args) {}\n}\n",
            ),
        ],
        primary: "Java",
        tool: "maven",
        language: "Java",
        frameworks: &["Spring Boot"],
        test_frameworks: &["JUnit"],
        commands: [Some("mvn -B compile"), None, Some("mvn -B test"), None],
    },
    Stack {
        name: "gradle",
        files: &[
            (
                "build.gradle.kts",
                "plugins {\n    kotlin(\"jvm\") version \"1.9.0\"\n    id(\"io.gitlab.arturbosch.detekt\") version \"1.23.0\"\n}\ndependencies {\n    implementation(\"io.ktor:ktor-server-core:2.3.0\")\n    testImplementation(kotlin(\"test\"))\n}\ntasks.test { useJUnitPlatform() }\n",
            ),
            ("gradlew", "#!/bin/sh\nexec java -jar gradle/wrapper/gradle-wrapper.jar \"$@\"\n"),
            ("src/main/kotlin/App.kt", "fun main() {\n    println(\"hi\")\n}\n"),
        ],
        primary: "Kotlin",
        tool: "gradle",
        language: "Kotlin",
        frameworks: &["Ktor"],
        test_frameworks: &["JUnit"],
        commands: [Some("./gradlew assemble"), Some("./gradlew detekt"), Some("./gradlew test"), None],
    },
    Stack {
        name: "dotnet",
        files: &[
            (
                "Api.csproj",
                "<Project Sdk=\"Microsoft.NET.Sdk.Web\">\n  <ItemGroup>\n    <PackageReference Include=\"xunit\" Version=\"2.6.0\" />\n  </ItemGroup>\n</Project>\n",
            ),
            ("Program.cs", "var app = WebApplication.Create(args);\napp.Run();\n"),
        ],
        primary: "C#",
        tool: "dotnet",
        language: "C#",
        frameworks: &["ASP.NET Core"],
        test_frameworks: &["xUnit"],
        commands: [Some("dotnet build"), None, Some("dotnet test"), Some("dotnet format")],
    },
    Stack {
        name: "bundler",
        files: &[
            ("Gemfile", "source 'https://rubygems.org'\ngem 'sinatra'\ngroup :test do\n  gem 'rspec'\nend\n"),
            ("app.rb", "require 'sinatra'\n\nget '/' do\n  'hi'\nend\n"),
        ],
        primary: "Ruby",
        tool: "bundler",
        language: "Ruby",
        frameworks: &["Sinatra"],
        test_frameworks: &["RSpec"],
        commands: [None, None, Some("bundle exec rspec"), None],
    },
    Stack {
        name: "composer",
        files: &[
            (
                "composer.json",
                r#"{"require":{"php":"^8.2","laravel/framework":"^11.0"},"require-dev":{"phpunit/phpunit":"^10.0","phpstan/phpstan":"^1.10"}}"#,
            ),
            ("app/Http/Kernel.php", "<?php\n\nclass Kernel {}\n"),
        ],
        primary: "PHP",
        tool: "composer",
        language: "PHP",
        frameworks: &["Laravel"],
        test_frameworks: &["PHPUnit"],
        commands: [None, Some("vendor/bin/phpstan analyse"), Some("vendor/bin/phpunit"), None],
    },
    Stack {
        name: "mix",
        files: &[
            (
                "mix.exs",
                "defmodule Shop.MixProject do\n  use Mix.Project\n\n  def project do\n    [app: :shop, deps: deps()]\n  end\n\n  defp deps do\n    [{:phoenix, \"~> 1.7\"}]\n  end\nend\n",
            ),
            ("lib/shop.ex", "defmodule Shop do\n  def hello, do: :world\nend\n"),
            ("test/shop_test.exs", "defmodule ShopTest do\n  use ExUnit.Case\nend\n"),
        ],
        primary: "Elixir",
        tool: "mix",
        language: "Elixir",
        frameworks: &["Phoenix"],
        test_frameworks: &["ExUnit"],
        commands: [Some("mix compile"), None, Some("mix test"), None],
    },
    Stack {
        name: "swift",
        files: &[
            (
                "Package.swift",
                "// swift-tools-version:5.9\nimport PackageDescription\n\nlet package = Package(\n    name: \"Tool\",\n    targets: [\n        .executableTarget(name: \"Tool\"),\n        .testTarget(name: \"ToolTests\", dependencies: [\"Tool\"]),\n    ]\n)\n",
            ),
            ("Sources/Tool/main.swift", "print(\"hi\")\n"),
        ],
        primary: "Swift",
        tool: "swift",
        language: "Swift",
        frameworks: &[],
        test_frameworks: &["XCTest"],
        commands: [Some("swift build"), None, Some("swift test"), None],
    },
    Stack {
        name: "cmake",
        files: &[
            (
                "CMakeLists.txt",
                "cmake_minimum_required(VERSION 3.20)\nproject(calc LANGUAGES CXX)\nenable_testing()\nadd_executable(calc main.cpp)\nadd_test(NAME calc COMMAND calc)\n",
            ),
            ("main.cpp", "int main() {\n    return 0;\n}\n"),
        ],
        primary: "C++",
        tool: "cmake",
        language: "C++",
        frameworks: &[],
        test_frameworks: &["CTest"],
        commands: [Some("cmake -S . -B build && cmake --build build"), None, Some("ctest --test-dir build"), None],
    },
    Stack {
        name: "make",
        files: &[
            (
                "Makefile",
                "CC := cc\n\nall: hello\n\nhello: hello.c\n\t$(CC) -o hello hello.c\n\ncheck: hello\n\t./hello\n\nlint:\n\tcppcheck .\n",
            ),
            ("hello.c", "int main(void) {\n    return 0;\n}\n"),
        ],
        primary: "C",
        tool: "make",
        language: "Makefile",
        frameworks: &[],
        test_frameworks: &[],
        commands: [Some("make all"), Some("make lint"), Some("make check"), None],
    },
    Stack {
        name: "just",
        files: &[
            ("justfile", "build:\n    zig build\n\ntest: build\n    zig build test\n\nfmt:\n    zig fmt .\n"),
            ("src/main.zig", "pub fn main() void {}\n"),
        ],
        primary: "Zig",
        tool: "just",
        language: "Just",
        frameworks: &[],
        test_frameworks: &[],
        commands: [Some("just build"), None, Some("just test"), Some("just fmt")],
    },
];

#[test]
fn every_supported_stack_is_detected_with_its_commands() {
    let mut failures = Vec::new();
    for stack in STACKS {
        let p = Project::new();
        with_files(&p, stack.files);
        let a = analyze(&p, &[]);
        let [build, lint, test, format] = stack.commands;
        let expected = json!({
            "primary_language": stack.primary,
            "projects": [{
                "dir": ".",
                "tool": stack.tool,
                "language": stack.language,
                "frameworks": stack.frameworks,
                "test_frameworks": stack.test_frameworks,
                "commands": commands(build, lint, test, format),
            }],
        });
        let actual = json!({
            "primary_language": a["primary_language"],
            "projects": a["projects"].as_array().unwrap().iter().map(summary).collect::<Vec<_>>(),
        });
        if actual != expected {
            failures.push(format!("{}:\n  expected {expected}\n  actual   {actual}", stack.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_monorepo_lists_each_project_with_its_directory_and_checks() {
    let p = Project::git();
    with_files(
        &p,
        &[
            ("backend/go.mod", "module example.com/backend\n\ngo 1.22\n\nrequire github.com/gin-gonic/gin v1.9.1\n"),
            ("backend/main.go", "package main\n\nfunc main() {}\n"),
            ("backend/main_test.go", "package main\n"),
            (
                "frontend/package.json",
                r#"{"scripts":{"build":"vite build","test":"vitest"},"dependencies":{"vue":"3"},"devDependencies":{"vitest":"1"}}"#,
            ),
            ("frontend/pnpm-lock.yaml", "lockfileVersion: '9.0'\n"),
            ("frontend/src/main.js", "import { createApp } from 'vue';\n"),
            ("ml/pyproject.toml", "[project]\nname = \"ml\"\ndependencies = [\"flask\"]\n[tool.pytest.ini_options]\n"),
            ("ml/uv.lock", ""),
            ("ml/serve.py", "import flask\n"),
            ("examples/demo/package.json", r#"{"scripts":{"build":"x"}}"#),
        ],
    );
    let a = analyze(&p, &[]);
    let projects: Vec<Value> = a["projects"].as_array().unwrap().iter().map(summary).collect();
    assert_eq!(
        projects,
        vec![
            json!({"dir": "backend", "tool": "go", "language": "Go", "frameworks": ["Gin"], "test_frameworks": ["go test"],
                   "commands": commands(Some("go build ./..."), Some("go vet ./..."), Some("go test ./..."), Some("gofmt -w ."))}),
            json!({"dir": "examples/demo", "tool": "npm", "language": "JavaScript", "frameworks": [], "test_frameworks": [],
                   "commands": commands(Some("npm run build"), None, None, None)}),
            json!({"dir": "frontend", "tool": "pnpm", "language": "JavaScript", "frameworks": ["Vue"], "test_frameworks": ["Vitest"],
                   "commands": commands(Some("pnpm build"), None, Some("pnpm test"), None)}),
            json!({"dir": "ml", "tool": "uv", "language": "Python", "frameworks": ["Flask"], "test_frameworks": ["pytest"],
                   "commands": commands(None, None, Some("uv run pytest"), None)}),
        ]
    );
    assert_eq!(
        a["checks"],
        json!([
            {"name": "build (backend)", "dir": "backend", "command": "go build ./..."},
            {"name": "build (frontend)", "dir": "frontend", "command": "pnpm build"},
            {"name": "lint (backend)", "dir": "backend", "command": "go vet ./..."},
            {"name": "test (backend)", "dir": "backend", "command": "go test ./..."},
            {"name": "test (frontend)", "dir": "frontend", "command": "pnpm test"},
            {"name": "test (ml)", "dir": "ml", "command": "uv run pytest"},
        ])
    );
}

#[test]
fn an_empty_directory_is_analysed_and_says_so() {
    let p = Project::new();
    let a = analyze(&p, &[]);
    assert_eq!(a["files"]["total"], 0);
    assert_eq!((&a["projects"], &a["checks"], &a["languages"]), (&json!([]), &json!([]), &json!([])));
    assert_eq!((&a["primary_language"], &a["health"]["score"]), (&Value::Null, &json!(0.0)));
    assert_eq!(a["cache"], "unavailable");
    let out = p.mmm().arg("analyze").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("\nNo files to analyze: the directory is empty, or everything in it is ignored.\n"));
}

#[test]
fn outside_git_the_ignore_files_still_apply_and_vendored_code_is_skipped() {
    let p = Project::new();
    let many: Vec<(String, String)> =
        (0..50).map(|i| (format!("generated/mod{i}.py"), format!("def f{i}():\n    return {i}\n"))).collect();
    for (path, content) in &many {
        p.write(path, content);
    }
    with_files(
        &p,
        &[
            (".gitignore", "generated/\n"),
            (".ignore", "scratch.rs\n"),
            ("scratch.rs", "fn scratch() {}\n"),
            ("node_modules/lib/index.js", "module.exports = 1;\n"),
            (".venv/lib/site.py", "x = 1\n"),
            ("src/lib.rs", "pub fn real() {}\n"),
        ],
    );
    let a = analyze(&p, &[]);
    let languages: Vec<&str> = a["languages"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(languages, vec!["Rust"]);
    assert_eq!(a["files"]["total"], 3, "src/lib.rs, .gitignore and .ignore");
    assert_eq!(a["files"]["skipped"]["vendored_dirs"], 2);
    assert_eq!(a["cache"], "unavailable");
}

#[test]
fn binary_and_non_utf8_files() {
    let p = Project::new();
    std::fs::write(p.root.join("blob.rs"), b"fn a() {}\n\0\0\x01binary").unwrap();
    std::fs::write(p.root.join("latin1.py"), b"# caf\xe9\ndef f():\n    return '\xe9t\xe9'\n").unwrap();
    std::fs::write(p.root.join("image.png"), b"\x89PNG\r\n\x1a\n\0\0").unwrap();
    let a = analyze(&p, &[]);
    assert_eq!(a["files"]["skipped"]["binary"], 1);
    assert_eq!(
        a["languages"],
        json!([{"name": "Python", "files": 1, "code": 2, "comment": 1, "blank": 0, "generated_files": 0, "generated_code": 0}])
    );
    assert_eq!(a["map"][0]["symbols"], json!([{"kind": "function", "name": "f", "line": 2}]));
}

#[cfg(unix)]
#[test]
fn symlinks_are_never_followed_so_loops_and_links_out_of_the_tree_are_harmless() {
    use std::os::unix::fs::symlink;
    let p = Project::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret_code.rs"), "fn outside() {}\n").unwrap();
    p.write("src/main.rs", "fn main() {}\n");
    symlink(".", p.root.join("src/loop")).unwrap();
    symlink(p.root.join("b"), p.root.join("a")).unwrap();
    symlink(p.root.join("a"), p.root.join("b")).unwrap();
    symlink(outside.path(), p.root.join("external")).unwrap();
    symlink(outside.path().join("secret_code.rs"), p.root.join("linked.rs")).unwrap();
    let a = analyze(&p, &[]);
    assert_eq!(a["files"]["skipped"]["symlinks"], 5);
    assert_eq!(
        a["languages"],
        json!([{"name": "Rust", "files": 1, "code": 1, "comment": 0, "blank": 0, "generated_files": 0, "generated_code": 0}])
    );
    assert!(!a.to_string().contains("outside"));
}

#[test]
fn a_huge_file_is_counted_as_skipped_not_read() {
    let p = Project::new();
    p.write("big.rs", &"fn x() {}\n".repeat(200_000));
    p.write("small.rs", "fn y() {}\n");
    p.write("web/node_modules/left-pad/index.js", "module.exports = 1;\n");
    let a = analyze(&p, &[]);
    assert_eq!(a["files"]["skipped"]["too_large"], 1);
    // What tokei would count and mmm does not, by path, for a comparison to exclude.
    assert_eq!(a["files"]["excluded"], json!(["big.rs", "web/node_modules/"]));
    assert_eq!(
        a["languages"],
        json!([{"name": "Rust", "files": 1, "code": 1, "comment": 0, "blank": 0, "generated_files": 0, "generated_code": 0}])
    );
}

#[test]
fn secret_files_never_appear_in_any_output() {
    let p = Project::git();
    with_files(
        &p,
        &[
            (".env", "# TODO: rotate the key\nAPI_KEY=sk-live-123\n"),
            ("config/credentials.json", "{\"token\": \"abc\"}\n"),
            ("notes/private.md", "TODO: secret plan\n"),
            (".mmm/config.toml", "secret_files = [\"notes/\"]\n"),
            ("src/app.py", "def run():\n    return 1  # TODO: real work\n"),
        ],
    );
    let a = analyze(&p, &["--no-cache"]);
    assert_eq!(a["files"]["skipped"]["secret"], 3);
    assert_eq!(
        a["health"]["todos"]["items"],
        json!([{"path": "src/app.py", "line": 2, "kind": "TODO", "text": "real work"}])
    );
    let human = stdout(&p.mmm().args(["analyze", "--no-cache"]).output().unwrap());
    assert!(human.contains("TODO/FIXME/HACK    1 (TODO 1, FIXME 0, HACK 0): src/app.py:2"), "{human}");
    for text in [a.to_string(), human] {
        for secret in [".env", "rotate", "sk-live", "credentials.json", "token", "private.md", "secret plan"] {
            assert!(!text.contains(secret), "{secret} leaked into: {text}");
        }
    }
}

#[test]
fn the_score_breakdown_is_deterministic_and_explained() {
    let p = Project::git();
    let mut lib = String::from("//! A small library.\n\n");
    for i in 0..10 {
        lib.push_str(&format!(
            "/// Adds {i}.\npub fn add{i}(x: u32) -> u32 {{\n    x.checked_add({i}).unwrap()\n}}\n\n"
        ));
    }
    lib.push_str("// TODO: more functions\n");
    with_files(
        &p,
        &[
            ("Cargo.toml", "[package]\nname = \"small\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
            ("src/lib.rs", &lib),
            ("tests/add.rs", "#[test]\nfn adds() {\n    assert_eq!(small::add1(1), 2);\n}\n"),
            (".github/workflows/ci.yml", "on: push\n"),
        ],
    );
    let a = analyze(&p, &[]);
    assert_eq!(
        a["health"]["breakdown"],
        json!([
            {"name": "tests", "score": 0.81, "max": 2.5,
             "detail": "test/source code ratio 0.13 (4 test lines in 1 test file, 30 source lines)"},
            {"name": "error_handling", "score": 0.0, "max": 2.0, "detail": "10 smells in 30 source lines (333.3 per 1,000)"},
            {"name": "documentation", "score": 0.62, "max": 1.5, "detail": "README.md 1 line, comments 29% of source lines"},
            {"name": "complexity", "score": 2.0, "max": 2.0,
             "detail": "0 of 10 functions over 50 lines, 0 of 1 source file over 1000 lines"},
            {"name": "tooling", "score": 1.0, "max": 1.0, "detail": "CI: GitHub Actions; linter: yes; build/test commands: yes"},
            {"name": "maintenance", "score": 0.0, "max": 1.0, "detail": "1 TODO/FIXME/HACK marker (33.3 per 1,000 source lines)"},
        ])
    );
    assert_eq!(a["health"]["score"], 4.4);
    assert_eq!(
        a["focus_areas"],
        json!([
            {"area": "error_handling", "reason": "10 unwrap() outside tests (Rust), most in src/lib.rs"},
            {"area": "tests", "reason": "add tests: test/source code ratio 0.13 (4 test lines in 1 test file, 30 source lines)"},
            {"area": "maintenance", "reason": "resolve 1 TODO/FIXME/HACK marker, first at src/lib.rs:53"},
            {"area": "documentation", "reason": "README is only 1 line"},
        ])
    );
    // The same tree scores the same, every time.
    assert_eq!(analyze(&p, &["--no-cache"])["health"], a["health"]);
}

#[test]
fn the_cache_is_reused_until_head_or_a_dirty_file_changes() {
    let p = Project::git();
    p.write("src/main.rs", "fn main() {}\n");
    let statuses = |p: &Project, args: &[&str]| -> (String, u64) {
        let a = analyze(p, args);
        (a["cache"].as_str().unwrap().to_string(), a["languages"][0]["code"].as_u64().unwrap_or(0))
    };
    assert_eq!(statuses(&p, &[]), ("miss".into(), 1));
    assert_eq!(statuses(&p, &[]), ("hit".into(), 1));
    // The cache keeps itself out of git status.
    assert_eq!(p.run_git(&["status", "--porcelain", "--untracked-files=all"]), "?? src/main.rs\n");
    p.write("src/main.rs", "fn main() {\n    run();\n}\n");
    assert_eq!(statuses(&p, &[]), ("miss".into(), 3));
    assert_eq!(statuses(&p, &[]), ("hit".into(), 3));
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-qm", "main"]);
    assert_eq!(statuses(&p, &[]), ("miss".into(), 3));
    assert_eq!(statuses(&p, &["--no-cache"]), ("disabled".into(), 3));
    // A cache of another schema version is recomputed, as is a corrupt one.
    let cache = p.root.join(".mmm/cache/analysis.json");
    let text = std::fs::read_to_string(&cache).unwrap().replacen("\"version\":3", "\"version\":0", 1);
    std::fs::write(&cache, text).unwrap();
    assert_eq!(statuses(&p, &[]), ("miss".into(), 3));
    std::fs::write(&cache, "{not json").unwrap();
    assert_eq!(statuses(&p, &[]), ("miss".into(), 3));
    assert_eq!(statuses(&p, &[]), ("hit".into(), 3));
    // A subdirectory of a repository is analyzed without the cache.
    assert_eq!(statuses(&p, &["src"]), ("unavailable".into(), 3));
}

#[test]
fn json_output_is_one_analysis_object_with_the_documented_fields() {
    let p = Project::git();
    p.write("src/main.rs", "fn main() {}\n");
    let a = analyze(&p, &[]);
    let sorted = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        sorted(&a),
        [
            "cache",
            "checks",
            "duration_ms",
            "files",
            "focus_areas",
            "health",
            "languages",
            "map",
            "primary_language",
            "projects",
            "root",
            "structure",
            "type",
            "version",
            "warnings",
        ]
    );
    assert_eq!((&a["type"], &a["version"]), (&json!("analysis"), &json!(3)));
    assert_eq!(a["root"], json!(p.root.canonicalize().unwrap()));
    assert_eq!(
        sorted(&a["health"]),
        [
            "breakdown",
            "dependencies",
            "documentation",
            "functions",
            "largest_files",
            "longest_functions",
            "score",
            "smells",
            "tests",
            "todos",
        ]
    );
    assert_eq!(
        a["map"],
        json!([{"path": "src/main.rs", "language": "Rust", "code_lines": 1, "entry_point": true, "test": false,
                "references": 0, "rank": 1.0, "symbols": [{"kind": "function", "name": "main", "line": 1}]}])
    );
}

#[test]
fn a_path_that_does_not_exist_or_is_a_file_is_a_usage_error() {
    let p = Project::new();
    let out = p.mmm().args(["analyze", "no/such/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no/such/dir does not exist\nhint: pass the directory of a project, e.g. `mmm analyze .`\n"
    );
    p.write("file.txt", "x");
    let out = p.mmm().args(["analyze", "file.txt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).ends_with("not a directory\nhint: pass the project's directory, not a file\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_human_report_has_every_section() {
    let p = Project::git();
    with_files(
        &p,
        &[
            ("Cargo.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
            ("src/main.rs", "fn main() {\n    // TODO: say hello\n}\n"),
        ],
    );
    let out = p.mmm().arg("analyze").output().unwrap();
    let text = stdout(&out);
    let headings: Vec<&str> =
        text.lines().filter(|l| !l.starts_with(' ') && !l.is_empty()).map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(headings[1..], ["Languages", "Projects", "Checks", "Structure", "Health", "Focus", "analyzed"]);
    assert!(text.contains("\n  build  cargo build --all-targets\n  lint   cargo clippy --all-targets -- -D warnings\n  test   cargo test\n"), "{text}");
    assert!(text.contains("TODO/FIXME/HACK    1 (TODO 1, FIXME 0, HACK 0): src/main.rs:2"), "{text}");
    let again = stdout(&p.mmm().arg("analyze").output().unwrap());
    assert!(again.ends_with("\n\nreused from .mmm/cache/analysis.json\n"), "{again}");
}
