//! The documentation stays true: every setting is documented with its default.

use mmm::settings::{KEYS, Value};

#[test]
fn every_key_is_documented_with_its_default() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    for key in KEYS {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", key.name)))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for `{}`", key.name));
        let default = match Value::from(key.default) {
            Value::Unset => "unset".to_string(),
            Value::List(items) if items.is_empty() => "[]".to_string(),
            value => value.to_toml(),
        };
        assert!(row.contains(&format!("`{default}`")), "the row for `{}` lacks its default {default}: {row}", key.name);
        assert!(
            row.contains(key.doc.split(" (").next().unwrap().trim_end_matches('.')),
            "the row for `{}` lacks its doc",
            key.name
        );
    }
}

#[test]
fn every_builtin_secret_pattern_is_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    for pattern in mmm::settings::keys::BUILTIN_SECRET_FILES {
        assert!(docs.contains(&format!("`{pattern}`")), "{pattern} is not in docs/configuration.md");
    }
}

#[test]
fn the_shipped_specs_are_valid_and_ordered() {
    for dir in ["specs", "examples/wordfreq-specs"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let specs = mmm::spec::load_dir(&dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
        assert!(!specs.is_empty(), "{} has no specs", dir.display());
        assert_eq!(mmm::spec::order(&specs).unwrap().len(), specs.len());
        for spec in &specs {
            assert!(spec.criteria.len() >= 3, "{} needs real acceptance criteria", spec.path.display());
            assert!(spec.criteria.iter().all(|c| !c.done), "{} is not done yet", spec.path.display());
        }
    }
}
