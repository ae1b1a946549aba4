//! The workflows mmm ships, embedded in the binary: `mmm workflow new NAME --from TEMPLATE`
//! writes one into `.mmm/workflows/` to edit. Each is checked and dry-run by the tests, so
//! what ships is valid. Nothing here runs anything.

/// A shipped workflow: its name and its YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub name: &'static str,
    pub text: &'static str,
}

/// Every shipped workflow, by name. `blank` is what `mmm workflow new` writes without `--from`.
pub const TEMPLATES: &[Template] = &[
    Template { name: "add-docs", text: include_str!("templates/add-docs.yml") },
    Template { name: "blank", text: include_str!("templates/blank.yml") },
    Template { name: "changelog-entry", text: include_str!("templates/changelog-entry.yml") },
    Template { name: "error-handling", text: include_str!("templates/error-handling.yml") },
    Template { name: "fix-build", text: include_str!("templates/fix-build.yml") },
    Template { name: "lint-clean", text: include_str!("templates/lint-clean.yml") },
    Template { name: "pending-specs", text: include_str!("templates/pending-specs.yml") },
    Template { name: "perf-pass", text: include_str!("templates/perf-pass.yml") },
    Template { name: "security-review", text: include_str!("templates/security-review.yml") },
    Template { name: "stricter-types", text: include_str!("templates/stricter-types.yml") },
    Template { name: "test-coverage", text: include_str!("templates/test-coverage.yml") },
    Template { name: "tidy", text: include_str!("templates/tidy.yml") },
];

/// The template called `name`.
pub fn find(name: &str) -> Option<Template> {
    TEMPLATES.iter().copied().find(|t| t.name == name)
}

impl Template {
    /// Its `description:` line.
    pub fn description(&self) -> &'static str {
        self.text.lines().find_map(|l| l.strip_prefix("description: ")).unwrap_or_default()
    }

    /// Its text with the workflow named `name` (the first line, `name: <template>`).
    pub fn named(&self, name: &str) -> String {
        let rest = self.text.split_once('\n').map_or("", |(_, rest)| rest);
        format!("name: {name}\n{rest}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::workflow::{InputType, InputValue, check, explain};

    #[test]
    fn every_template_checks_and_dry_runs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("specs")).unwrap();
        assert!(TEMPLATES.len() >= 10);
        for template in TEMPLATES {
            assert!(template.text.starts_with(&format!("name: {}\n", template.name)), "{}", template.name);
            assert!(!template.description().is_empty(), "{} has no description", template.name);
            let file = format!("{}.yml", template.name);
            std::fs::write(dir.path().join(&file), template.named(template.name)).unwrap();
            let workflow = match check::load(dir.path(), dir.path(), Path::new(&file)).unwrap() {
                Ok(w) => w,
                Err(problems) => panic!("{}: {problems:?}", template.name),
            };
            // Inputs without a default get a value of their type; every step is explained.
            let inputs: BTreeMap<String, InputValue> = workflow
                .inputs
                .iter()
                .map(|i| {
                    let value = i.default.clone().unwrap_or_else(|| match i.kind {
                        InputType::String => InputValue::String("x".into()),
                        InputType::Number => InputValue::Number(1.0),
                        InputType::Boolean => InputValue::Boolean(true),
                    });
                    (i.name.clone(), value)
                })
                .collect();
            for outcome in [crate::workflow::expr::Outcome::Success, crate::workflow::expr::Outcome::Failure] {
                let assume = workflow.steps.iter().map(|s| (s.label(), outcome)).collect();
                let explained = explain::explain(&workflow, inputs.clone(), &assume);
                assert_eq!(explained.len(), workflow.steps.len());
                for e in explained {
                    assert_eq!(e.error, None, "{}: step {}", template.name, e.step);
                }
            }
        }
    }

    #[test]
    fn a_template_is_renamed_on_its_first_line() {
        let blank = find("blank").unwrap();
        assert_eq!(blank.named("mine").lines().next(), Some("name: mine"));
        assert_eq!(
            blank.named("mine").lines().skip(1).collect::<Vec<_>>(),
            blank.text.lines().skip(1).collect::<Vec<_>>()
        );
    }
}
