//! `docs/events.schema.json`, compiled once: every JSON line an end-to-end test reads
//! through [`super::json_lines`] is checked against it, so what mmm prints and what the
//! documentation promises cannot drift apart. It never loads anything from the network:
//! the schema is the repository's file and the draft's meta-schema is built into `boon`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The schema's `$id`, under which it is registered (never fetched).
const ID: &str = "https://github.com/mmm-dev/mmm/blob/main/docs/events.schema.json";

/// The schema file's text.
pub fn text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.schema.json"))
        .expect("reading docs/events.schema.json")
}

struct Compiled {
    schemas: boon::Schemas,
    root: boon::SchemaIndex,
    /// Each line type's own definition, for an error that names what is wrong with it.
    by_type: BTreeMap<String, boon::SchemaIndex>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| compile().unwrap_or_else(|e| panic!("docs/events.schema.json: {e}")))
}

/// Compiles the schema (checking it against its draft's meta-schema) and each line type's
/// definition.
fn compile() -> Result<Compiled, String> {
    let value: Value = serde_json::from_str(&text()).map_err(|e| format!("not JSON: {e}"))?;
    let mut compiler = boon::Compiler::new();
    compiler.add_resource(ID, value).map_err(|e| format!("{e:#}"))?;
    let mut schemas = boon::Schemas::new();
    let root = compiler.compile(ID, &mut schemas).map_err(|e| format!("{e:#}"))?;
    let mut by_type = BTreeMap::new();
    for name in types()? {
        let index = compiler.compile(&format!("{ID}#/$defs/{name}"), &mut schemas).map_err(|e| format!("{e:#}"))?;
        by_type.insert(name, index);
    }
    Ok(Compiled { schemas, root, by_type })
}

/// The line types the schema documents (its `type` enum).
pub fn types() -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_str(&text()).map_err(|e| format!("not JSON: {e}"))?;
    value["properties"]["type"]["enum"]
        .as_array()
        .ok_or("the schema has no `type` enum")?
        .iter()
        .map(|t| t.as_str().map(str::to_string).ok_or_else(|| format!("a type that is not a string: {t}")))
        .collect()
}

/// Checks that the schema compiles (it is valid JSON Schema).
pub fn check_schema() -> Result<(), String> {
    compile().map(|_| ())
}

/// Checks one line; the error names the line's own type's failures when it has a known
/// type.
pub fn check(line: &Value) -> Result<(), String> {
    let c = compiled();
    if c.schemas.validate(line, c.root).is_ok() {
        return Ok(());
    }
    let error = match line["type"].as_str().and_then(|t| c.by_type.get(t)) {
        Some(&index) => c.schemas.validate(line, index).err().map(|e| format!("{e}")),
        None => c.schemas.validate(line, c.root).err().map(|e| format!("{e}")),
    };
    Err(error.unwrap_or_else(|| "valid against its own type but not the whole schema".into()))
}
