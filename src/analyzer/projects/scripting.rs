//! Ruby (Bundler's `Gemfile`), PHP (Composer's `composer.json`) and Elixir (Mix's `mix.exs`).

use anyhow::Context;
use serde_json::Value;

use super::{Commands, Family, Found, FrameworkTables, Tree, project};
use crate::analyzer::walk::Manifest;

static RUBY_TABLES: FrameworkTables = FrameworkTables {
    frameworks: &[("rails", "Rails"), ("sinatra", "Sinatra"), ("hanami", "Hanami")],
    test_frameworks: &[("rspec", "RSpec"), ("rspec-rails", "RSpec"), ("minitest", "Minitest")],
};

/// Gem names in a Gemfile, the second list holding those in development/test groups.
fn gems(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut runtime, mut dev) = (Vec::new(), Vec::new());
    let mut dev_depth = 0usize;
    for line in text.lines().map(str::trim) {
        if line.starts_with("group ") && line.ends_with(" do") {
            if dev_depth > 0 || line.contains(":development") || line.contains(":test") {
                dev_depth += 1;
            }
            continue;
        }
        if line == "end" && dev_depth > 0 {
            dev_depth -= 1;
            continue;
        }
        let Some(rest) = line.strip_prefix("gem ") else { continue };
        let Some(name) = rest.trim_start().split(['"', '\'']).nth(1) else { continue };
        if dev_depth > 0 || rest.contains(":development") || rest.contains(":test") {
            dev.push(name.to_string());
        } else {
            runtime.push(name.to_string());
        }
    }
    (runtime, dev)
}

pub(super) fn bundler(m: &Manifest, tree: Tree<'_>) -> Found {
    let dir = m.dir();
    let mut p = project(dir, "bundler", m, "Ruby");
    let (runtime, dev) = gems(&m.text);
    p.dependencies.runtime = runtime.len() as u32;
    p.dependencies.dev = dev.len() as u32;
    let deps: Vec<String> = runtime.into_iter().chain(dev).collect();
    let has = |name: &str| deps.iter().any(|d| d == name);
    let rspec = has("rspec") || has("rspec-rails") || tree.has(dir, ".rspec");
    let test_dir = !tree.under(&super::join(dir, "test")).is_empty();
    let rails = has("rails") && tree.has(dir, "bin/rails");
    p.commands = Commands {
        build: None,
        lint: has("rubocop").then(|| "bundle exec rubocop".into()),
        test: if rspec {
            Some("bundle exec rspec".into())
        } else if rails && test_dir {
            Some("bin/rails test".into())
        } else if test_dir && tree.has(dir, "Rakefile") {
            Some("bundle exec rake test".into())
        } else {
            None
        },
        format: has("rubocop").then(|| "bundle exec rubocop -a".into()),
    };
    if !rspec && p.commands.test.is_some() && !has("minitest") {
        p.test_frameworks.push("Minitest".into());
    }
    Found { project: p, family: Family::Ruby, workspace: false, deps, tables: Some(&RUBY_TABLES) }
}

static PHP_TABLES: FrameworkTables = FrameworkTables {
    frameworks: &[("laravel/framework", "Laravel"), ("symfony/framework-bundle", "Symfony"), ("slim/slim", "Slim")],
    test_frameworks: &[("phpunit/phpunit", "PHPUnit"), ("pestphp/pest", "Pest")],
};

pub(super) fn composer(m: &Manifest, _tree: Tree<'_>) -> anyhow::Result<Found> {
    let doc: Value = serde_json::from_str(&m.text).context("invalid JSON")?;
    let dir = m.dir();
    let mut p = project(dir, "composer", m, "PHP");
    p.name = doc.get("name").and_then(Value::as_str).map(String::from);
    let names = |key: &str| -> Vec<String> {
        let object = doc.get(key).and_then(Value::as_object);
        let keys = object.into_iter().flat_map(|o| o.keys());
        keys.filter(|k| *k != "php" && !k.starts_with("ext-")).cloned().collect()
    };
    let (runtime, dev) = (names("require"), names("require-dev"));
    p.dependencies.runtime = runtime.len() as u32;
    p.dependencies.dev = dev.len() as u32;
    let deps: Vec<String> = runtime.into_iter().chain(dev).collect();
    let has = |name: &str| deps.iter().any(|d| d == name);
    let script = |name: &str| doc.get("scripts").and_then(|s| s.get(name)).is_some();
    p.commands = Commands {
        build: None,
        lint: if script("lint") {
            Some("composer lint".into())
        } else if has("phpstan/phpstan") {
            Some("vendor/bin/phpstan analyse".into())
        } else if has("vimeo/psalm") {
            Some("vendor/bin/psalm".into())
        } else {
            None
        },
        test: if script("test") {
            Some("composer test".into())
        } else if has("pestphp/pest") {
            Some("vendor/bin/pest".into())
        } else if has("phpunit/phpunit") {
            Some("vendor/bin/phpunit".into())
        } else {
            None
        },
        format: if has("laravel/pint") {
            Some("vendor/bin/pint".into())
        } else if has("friendsofphp/php-cs-fixer") {
            Some("vendor/bin/php-cs-fixer fix".into())
        } else {
            None
        },
    };
    Ok(Found { project: p, family: Family::Php, workspace: false, deps, tables: Some(&PHP_TABLES) })
}

static ELIXIR_TABLES: FrameworkTables =
    FrameworkTables { frameworks: &[("phoenix", "Phoenix"), ("ecto", "Ecto")], test_frameworks: &[] };

pub(super) fn mix(m: &Manifest, tree: Tree<'_>) -> Found {
    let dir = m.dir();
    let mut p = project(dir, "mix", m, "Elixir");
    p.name = m
        .text
        .split("app:")
        .nth(1)
        .and_then(|r| r.trim_start().strip_prefix(':'))
        .map(|r| r.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
    let mut deps = Vec::new();
    for entry in m.text.split("{:").skip(1) {
        let name: String = entry.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let spec = entry.split('}').next().unwrap_or("");
        if spec.contains("only: :test") || spec.contains("only: [:dev") || spec.contains("only: :dev") {
            p.dependencies.dev += 1;
        } else {
            p.dependencies.runtime += 1;
        }
        deps.push(name);
    }
    let tests = !tree.under(&super::join(dir, "test")).is_empty();
    if tests {
        p.test_frameworks.push("ExUnit".into());
    }
    let credo = deps.iter().any(|d| d == "credo");
    p.commands = Commands {
        build: Some("mix compile".into()),
        lint: credo.then(|| "mix credo".into()),
        test: tests.then(|| "mix test".into()),
        format: tree.has(dir, ".formatter.exs").then(|| "mix format".into()),
    };
    let umbrella = m.text.contains("apps_path");
    Found { project: p, family: Family::Elixir, workspace: umbrella, deps, tables: Some(&ELIXIR_TABLES) }
}

#[cfg(test)]
mod tests {
    use super::super::{Commands, Dependencies, detect, test_file as file};
    use super::gems;
    use crate::analyzer::walk::Manifest;

    #[test]
    fn gemfile_groups_are_development() {
        let text = "source 'https://rubygems.org'\ngem 'rails', '~> 7.1'\ngem \"pg\"\ngroup :development, :test do\n  gem 'rspec-rails'\n  gem 'rubocop', require: false\nend\ngem 'puma'\n";
        assert_eq!(
            gems(text),
            (vec!["rails".into(), "pg".into(), "puma".into()], vec!["rspec-rails".into(), "rubocop".into()])
        );
        let (projects, _) = detect(&[Manifest { path: "Gemfile".into(), text: text.into() }], &[file("bin/rails")]);
        let p = &projects[0];
        assert_eq!(
            (p.frameworks.clone(), p.test_frameworks.clone()),
            (vec!["Rails".to_string()], vec!["RSpec".to_string()])
        );
        assert_eq!(
            p.commands,
            Commands {
                build: None,
                lint: Some("bundle exec rubocop".into()),
                test: Some("bundle exec rspec".into()),
                format: Some("bundle exec rubocop -a".into()),
            }
        );
    }

    #[test]
    fn composer_scripts_win_over_tools() {
        let text = r#"{"name":"acme/shop","require":{"php":"^8.2","ext-json":"*","laravel/framework":"^11"},
            "require-dev":{"phpunit/phpunit":"^10","laravel/pint":"^1"},"scripts":{"test":"phpunit"}}"#;
        let (projects, _) = detect(&[Manifest { path: "composer.json".into(), text: text.into() }], &[]);
        let p = &projects[0];
        assert_eq!(p.dependencies, Dependencies { runtime: 1, dev: 2 });
        assert_eq!(
            (p.frameworks.clone(), p.test_frameworks.clone()),
            (vec!["Laravel".to_string()], vec!["PHPUnit".to_string()])
        );
        assert_eq!(p.commands.test.as_deref(), Some("composer test"));
        assert_eq!(p.commands.format.as_deref(), Some("vendor/bin/pint"));
    }

    #[test]
    fn mix_projects() {
        let text = "defmodule Hello.MixProject do\n  def project do\n    [app: :hello, deps: deps()]\n  end\n  defp deps do\n    [{:phoenix, \"~> 1.7\"}, {:credo, \"~> 1.7\", only: [:dev, :test]}]\n  end\nend\n";
        let (projects, _) =
            detect(&[Manifest { path: "mix.exs".into(), text: text.into() }], &[file("test/hello_test.exs")]);
        let p = &projects[0];
        assert_eq!((p.name.as_deref(), p.frameworks.clone()), (Some("hello"), vec!["Phoenix".to_string()]));
        assert_eq!(p.dependencies, Dependencies { runtime: 1, dev: 1 });
        assert_eq!(p.commands.lint.as_deref(), Some("mix credo"));
        assert_eq!(p.commands.test.as_deref(), Some("mix test"));
    }
}
