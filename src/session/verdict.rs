//! The verdict on a spec's acceptance criteria: what the verifier returns through the
//! `submit_verdict` tool, and the checking of that input. Like the review, it is a fresh
//! request, separate from the editing conversation, so the model never grades its own
//! work from inside it.

use serde_json::{Value, json};

use crate::state::session::CriterionRecord;

/// The name of the tool the verifier answers with.
pub const SUBMIT_VERDICT: &str = "submit_verdict";

/// The `submit_verdict` tool definition.
pub fn submit_verdict_tool() -> Value {
    json!({
        "name": SUBMIT_VERDICT,
        "description": "Submit your verdict on every acceptance criterion: whether the change meets it, \
                        with the evidence (file, function, test) that shows it.",
        "input_schema": {
            "type": "object",
            "properties": {
                "criteria": {
                    "type": "array",
                    "description": "One entry per criterion, by its number.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "index": {"type": "integer", "minimum": 1, "description": "The criterion's number."},
                            "met": {"type": "boolean"},
                            "evidence": {"type": "string", "description": "What shows it is met, or what is missing."}
                        },
                        "required": ["index", "met", "evidence"]
                    }
                }
            },
            "required": ["criteria"]
        }
    })
}

/// Checks a `submit_verdict` input against the spec's `criteria` (every one judged, once).
/// The error text goes back to the model, so it says exactly what to correct.
pub fn parse_verdict(input: &Value, criteria: &[String]) -> Result<Vec<CriterionRecord>, String> {
    let items = input.get("criteria").and_then(Value::as_array).ok_or("`criteria` must be an array")?;
    let mut verdict: Vec<Option<CriterionRecord>> = vec![None; criteria.len()];
    for (i, item) in items.iter().enumerate() {
        let index = item.get("index").and_then(Value::as_u64).ok_or(format!("entry {i}: `index` must be a number"))?;
        let slot =
            usize::try_from(index).ok().and_then(|n| n.checked_sub(1)).and_then(|n| verdict.get_mut(n)).ok_or(
                format!("entry {i}: there is no criterion {index} (they are numbered 1 to {})", criteria.len()),
            )?;
        if slot.is_some() {
            return Err(format!("criterion {index} is judged twice"));
        }
        let met = item.get("met").and_then(Value::as_bool).ok_or(format!("entry {i}: `met` must be true or false"))?;
        let evidence = item.get("evidence").and_then(Value::as_str).unwrap_or_default().trim().to_string();
        *slot =
            Some(CriterionRecord { index: index as u32, text: criteria[index as usize - 1].clone(), met, evidence });
    }
    let missing: Vec<String> =
        verdict.iter().enumerate().filter(|(_, v)| v.is_none()).map(|(i, _)| (i + 1).to_string()).collect();
    if !missing.is_empty() {
        return Err(format!("judge every criterion; missing: {}", missing.join(", ")));
    }
    Ok(verdict.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn a_full_verdict_is_parsed_in_order() {
        let v = parse_verdict(
            &json!({"criteria": [
                {"index": 2, "met": false, "evidence": " no test "},
                {"index": 1, "met": true, "evidence": "src/a.rs"}
            ]}),
            &criteria(),
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                CriterionRecord { index: 1, text: "a".into(), met: true, evidence: "src/a.rs".into() },
                CriterionRecord { index: 2, text: "b".into(), met: false, evidence: "no test".into() },
            ]
        );
    }

    #[test]
    fn incomplete_or_wrong_verdicts_say_what_to_fix() {
        let parse = |v: Value| parse_verdict(&v, &criteria()).unwrap_err();
        assert_eq!(parse(json!({})), "`criteria` must be an array");
        assert_eq!(parse(json!({"criteria": [{"index": 1, "met": true}]})), "judge every criterion; missing: 2");
        assert_eq!(
            parse(json!({"criteria": [{"index": 3, "met": true}]})),
            "entry 0: there is no criterion 3 (they are numbered 1 to 2)"
        );
        assert_eq!(
            parse(json!({"criteria": [{"index": 1, "met": true}, {"index": 1, "met": false}]})),
            "criterion 1 is judged twice"
        );
        assert_eq!(parse(json!({"criteria": [{"index": 1, "met": "yes"}]})), "entry 0: `met` must be true or false");
        assert_eq!(submit_verdict_tool()["input_schema"]["required"], json!(["criteria"]));
    }
}
