//! `submit_change`: the model's declaration of what its change is and which of the issues it
//! was given the change addresses.
//!
//! The improve policy numbers the issues in its prompt (1, 2, 3); the model names the ones
//! its change addresses by those numbers. mmm checks the declaration (a one-line summary,
//! at least one issue, each within range, none twice) and keeps the last valid one, so the
//! commit message lists only what the change says it addresses, never every issue it was
//! shown. A declaration that does not hold up is an error result the model reads and
//! corrects. This module only checks and records; it never judges whether the claim is true.

use serde_json::{Value, json};

/// The name of the tool.
pub const SUBMIT_CHANGE_TOOL_NAME: &str = "submit_change";

/// The longest summary, in characters: a commit subject.
pub const MAX_SUMMARY_CHARS: usize = 72;

/// What the model declared about its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// One line, imperative mood: the commit subject.
    pub summary: String,
    /// The numbers (1-based, as in the prompt) of the issues the change addresses, ascending.
    pub addressed: Vec<u32>,
}

/// The tool definition. It does not depend on how many issues a conversation numbers
/// (`parse` checks that), so the tools stay the same from iteration to iteration and stay
/// part of the prefix the prompt cache keeps.
pub fn definition() -> Value {
    json!({
        "name": SUBMIT_CHANGE_TOOL_NAME,
        "description": "Declare your change once it is complete: a one-line summary and the numbers of the issues \
             (as numbered in the request) that the change addresses. List only the issues the change actually \
             addresses; the commit names exactly those. Calling it again replaces the earlier declaration.",
        "input_schema": {
            "type": "object",
            "properties": {
                "summary": {
                    "type": "string",
                    "description": format!(
                        "The change in one line, imperative mood, at most {MAX_SUMMARY_CHARS} characters."
                    )
                },
                "addressed": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "minItems": 1,
                    "uniqueItems": true,
                    "description": "The numbers of the issues the change addresses."
                }
            },
            "required": ["summary", "addressed"]
        }
    })
}

/// Checks the model's `input` against `issues` numbered issues: the declaration, or the
/// error text the model reads.
pub fn parse(input: &Value, issues: usize) -> Result<Declaration, String> {
    let summary = match input.get("summary") {
        Some(Value::String(s)) => s.trim(),
        Some(_) => return Err("Error: `summary` must be a string.".into()),
        None => return Err("Error: `summary` is missing: give the change in one line.".into()),
    };
    if summary.is_empty() {
        return Err("Error: `summary` is empty: give the change in one line.".into());
    }
    if summary.contains(['\n', '\r']) {
        return Err("Error: `summary` must be one line; put any explanation in your final reply.".into());
    }
    let chars = summary.chars().count();
    if chars > MAX_SUMMARY_CHARS {
        return Err(format!("Error: `summary` is {chars} characters long; keep it to at most {MAX_SUMMARY_CHARS}."));
    }
    let range = format!("the issues are numbered 1 to {issues}");
    let listed = match input.get("addressed") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("Error: `addressed` must be an array of issue numbers ({range}).")),
        None => {
            return Err(format!(
                "Error: `addressed` is missing: list the numbers of the issues the change addresses ({range})."
            ));
        }
    };
    if listed.is_empty() {
        return Err(format!(
            "Error: `addressed` is empty: list at least one issue the change addresses ({range}). If it addresses none, \
             undo it rather than submit it."
        ));
    }
    let mut addressed = Vec::with_capacity(listed.len());
    for item in listed {
        let number = item.as_u64().filter(|n| (1..=issues as u64).contains(n));
        let Some(number) = number else {
            return Err(format!("Error: `addressed` names {item}, which is not an issue you were given ({range})."));
        };
        let number = number as u32;
        if addressed.contains(&number) {
            return Err(format!("Error: `addressed` names issue {number} twice; list each issue once."));
        }
        addressed.push(number);
    }
    addressed.sort_unstable();
    Ok(Declaration { summary: summary.to_string(), addressed })
}

/// The confirmation the model reads after a valid declaration.
pub fn confirmation(declaration: &Declaration) -> String {
    let numbers: Vec<String> = declaration.addressed.iter().map(u32::to_string).collect();
    format!(
        "Recorded: \"{}\", addressing issue(s) {}. If the change is complete, stop calling tools and reply with \
         the summary and a short explanation.",
        declaration.summary,
        numbers.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: Value) -> Result<Declaration, String> {
        parse(&input, 2)
    }

    #[test]
    fn a_valid_declaration_is_trimmed_and_sorted() {
        assert_eq!(
            check(json!({"summary": "  Guard the empty list ", "addressed": [2, 1]})),
            Ok(Declaration { summary: "Guard the empty list".into(), addressed: vec![1, 2] })
        );
        assert_eq!(
            confirmation(&Declaration { summary: "Fix it".into(), addressed: vec![2] }),
            "Recorded: \"Fix it\", addressing issue(s) 2. If the change is complete, stop calling tools and reply \
             with the summary and a short explanation."
        );
    }

    #[test]
    fn issue_numbers_must_be_given_in_range_and_once() {
        assert_eq!(
            check(json!({"summary": "S", "addressed": [7]})),
            Err("Error: `addressed` names 7, which is not an issue you were given (the issues are numbered 1 to 2)."
                .into())
        );
        assert_eq!(
            check(json!({"summary": "S", "addressed": [0]})),
            Err("Error: `addressed` names 0, which is not an issue you were given (the issues are numbered 1 to 2)."
                .into())
        );
        assert_eq!(
            check(json!({"summary": "S", "addressed": ["1"]})),
            Err(
                "Error: `addressed` names \"1\", which is not an issue you were given (the issues are numbered 1 to 2)."
                    .into()
            )
        );
        assert_eq!(
            check(json!({"summary": "S", "addressed": [1.5]})),
            Err("Error: `addressed` names 1.5, which is not an issue you were given (the issues are numbered 1 to 2)."
                .into())
        );
        assert_eq!(
            check(json!({"summary": "S", "addressed": [1, 1]})),
            Err("Error: `addressed` names issue 1 twice; list each issue once.".into())
        );
        assert_eq!(
            check(json!({"summary": "S", "addressed": []})),
            Err("Error: `addressed` is empty: list at least one issue the change addresses (the issues are numbered \
                 1 to 2). If it addresses none, undo it rather than submit it."
                .into())
        );
        assert_eq!(
            check(json!({"summary": "S", "addressed": 1})),
            Err("Error: `addressed` must be an array of issue numbers (the issues are numbered 1 to 2).".into())
        );
        assert_eq!(
            check(json!({"summary": "S"})),
            Err("Error: `addressed` is missing: list the numbers of the issues the change addresses (the issues are \
                 numbered 1 to 2)."
                .into())
        );
    }

    #[test]
    fn the_summary_is_one_short_line() {
        assert_eq!(
            check(json!({"summary": " ", "addressed": [1]})),
            Err("Error: `summary` is empty: give the change in one line.".into())
        );
        assert_eq!(
            check(json!({"summary": "One\nTwo", "addressed": [1]})),
            Err("Error: `summary` must be one line; put any explanation in your final reply.".into())
        );
        assert_eq!(
            check(json!({"summary": "x".repeat(73), "addressed": [1]})),
            Err("Error: `summary` is 73 characters long; keep it to at most 72.".into())
        );
        assert_eq!(check(json!({"summary": 3, "addressed": [1]})), Err("Error: `summary` must be a string.".into()));
        assert_eq!(
            check(json!({"addressed": [1]})),
            Err("Error: `summary` is missing: give the change in one line.".into())
        );
        assert!(check(json!({"summary": "x".repeat(72), "addressed": [1]})).is_ok());
    }

    #[test]
    fn the_definition_is_the_same_whatever_the_number_of_issues() {
        let def = definition();
        assert_eq!(def["name"], "submit_change");
        assert_eq!(def["input_schema"]["properties"]["addressed"]["items"], json!({"type": "integer", "minimum": 1}));
        assert_eq!(def["input_schema"]["required"], json!(["summary", "addressed"]));
    }
}
