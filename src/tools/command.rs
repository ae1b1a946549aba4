//! Command tools: tools the user declares in config (`[tools.<name>]`) that the model may
//! call in the editing conversation. mmm runs the declared, fixed command in the work tree,
//! sandboxed like a check ([`crate::sandbox`]), with the model's arguments as JSON on its
//! stdin, and returns what it printed (capped and redacted like check output).
//!
//! The model's input is data: it is checked against the tool's input schema and written to
//! stdin, never spliced into the command line or a shell string. A command that fails, times
//! out or cannot start is an error result for the model, never the end of the session.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::ToolReply;
use crate::settings::extensions::ToolDef;

/// Compiles `schema` (a tool's `input_schema`) as JSON Schema (the workflows' `claude`
/// step schemas are compiled the same way).
pub use crate::workflow::check::compile_schema;

/// The definition of `tool` for the request's `tools` array.
pub fn definition(tool: &ToolDef) -> Value {
    json!({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema})
}

/// Runs `tool` in `root` with `input`: an error result when the input does not match the
/// schema, the command cannot start, fails or times out. Blocks: call it where the agent
/// calls tools (inside [`crate::blocking::call`]).
pub fn execute(tool: &ToolDef, root: &Path, input: &Value) -> ToolReply {
    if let Err(problem) = check_input(tool, input) {
        return ToolReply::error(format!(
            "Error: the input of `{}` does not match its input_schema: {problem}. Call it again with corrected input.",
            tool.name
        ));
    }
    let stdin = serde_json::to_vec(input).unwrap_or_default();
    let timeout = Duration::from_secs(tool.timeout_secs.max(1));
    let run = crate::exec::run_argv(&tool.command, root, timeout, stdin, false);
    let result = match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(run),
        Err(_) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(run),
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Err(e) => ToolReply::error(format!("Error: the tool `{}` could not start: {e:#}", tool.name)),
        Ok(r) if r.timed_out => ToolReply::error(format!(
            "Error: the tool `{}` timed out after {}s and was stopped. Output so far:\n{}",
            tool.name, tool.timeout_secs, r.output
        )),
        Ok(r) if r.passed() => ToolReply::ok(r.output),
        Ok(r) => ToolReply::error(format!(
            "Error: the tool `{}` failed ({}). Output:\n{}",
            tool.name,
            r.exit_code.map_or("killed".to_string(), |c| format!("exit {c}")),
            r.output
        )),
    }
}

fn check_input(tool: &ToolDef, input: &Value) -> Result<(), String> {
    let (schemas, index) = compile_schema(&tool.input_schema)?;
    schemas.validate(input, index).map_err(|e| e.to_string().lines().collect::<Vec<_>>().join("; "))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn tool(command: &[&str], timeout_secs: u64) -> ToolDef {
        ToolDef {
            name: "t".into(),
            description: "d".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            input_schema: json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
            timeout_secs,
        }
    }

    #[test]
    fn the_input_arrives_on_stdin_never_in_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let reply = execute(&tool(&["sh", "-c", "cat; echo; echo \"$#\""], 30), dir.path(), &json!({"n": 1}));
        assert_eq!(reply, ToolReply::ok("{\"n\":1}\n0"));
    }

    #[test]
    fn bad_input_failure_and_timeout_are_error_results() {
        let dir = tempfile::tempdir().unwrap();
        let reply = execute(&tool(&["true"], 30), dir.path(), &json!({"n": "one"}));
        assert!(reply.is_error && reply.content.starts_with("Error: the input of `t` does not match"), "{reply:?}");
        let reply = execute(&tool(&["sh", "-c", "echo no; exit 3"], 30), dir.path(), &json!({"n": 1}));
        assert_eq!(reply, ToolReply::error("Error: the tool `t` failed (exit 3). Output:\nno"));
        let reply = execute(&tool(&["sleep", "5"], 1), dir.path(), &json!({"n": 1}));
        assert_eq!(reply, ToolReply::error("Error: the tool `t` timed out after 1s and was stopped. Output so far:\n"));
        let reply = execute(&tool(&["/nonexistent/mmm-tool"], 30), dir.path(), &json!({"n": 1}));
        assert!(reply.is_error && reply.content.starts_with("Error: the tool `t` could not start"), "{reply:?}");
    }
}
