//! The review: what the judge model returns through the `submit_review` tool, and the
//! checking of that input. The review is a fresh request every iteration, separate from the
//! editing conversation, so the judge never grades its own work.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The name of the tool the reviewer answers with.
pub const SUBMIT_REVIEW: &str = "submit_review";

pub use crate::state::session::{Issue, Severity};

/// A review: a score from 0 to 10, a summary, and issues worst first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub score: f64,
    pub summary: String,
    pub issues: Vec<Issue>,
}

/// The highest score a review may give while the checks fail: the prompt states the rule,
/// and mmm enforces it, so a failing project never reads as nearly done.
pub const FAILING_CHECKS_CAP: f64 = 4.0;

impl Review {
    /// The review with its score capped at [`FAILING_CHECKS_CAP`] unless the checks pass.
    pub fn capped(mut self, checks_green: bool) -> Self {
        if !checks_green {
            self.score = self.score.min(FAILING_CHECKS_CAP);
        }
        self
    }

    /// The issues an iteration should address: the worst `n`, in order of severity.
    pub fn top_issues(&self, n: usize) -> &[Issue] {
        &self.issues[..self.issues.len().min(n)]
    }
}

/// The `submit_review` tool definition, as the Messages API takes a custom tool.
pub fn submit_review_tool() -> Value {
    json!({
        "name": SUBMIT_REVIEW,
        "description": "Submit your review of the repository: a score from 0 (unusable) to 10 (exemplary), \
                        a short summary, and the most important issues to fix next, worst first.",
        "input_schema": {
            "type": "object",
            "properties": {
                "score": {"type": "number", "minimum": 0, "maximum": 10, "description": "Overall quality, 0-10."},
                "summary": {"type": "string", "description": "Two or three sentences on the state of the code."},
                "issues": {
                    "type": "array",
                    "description": "Concrete, fixable issues, worst first. Empty when nothing is worth fixing.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
                            "file": {"type": "string", "description": "Path relative to the repository root, if the issue is in one file."},
                            "description": {"type": "string", "description": "What is wrong and what a fix looks like."}
                        },
                        "required": ["severity", "description"]
                    }
                }
            },
            "required": ["score", "summary", "issues"]
        }
    })
}

/// Checks a `submit_review` input. The error text goes back to the model, so it says
/// exactly what to correct.
pub fn parse_review(input: &Value) -> Result<Review, String> {
    let score = match input.get("score") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && (0.0..=10.0).contains(s))
    .ok_or("`score` must be a number from 0 to 10")?;
    let summary = input.get("summary").and_then(Value::as_str).ok_or("`summary` must be a string")?.trim().to_string();
    let raw_issues = match input.get("issues") {
        Some(Value::Array(items)) => items.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err("`issues` must be an array".into()),
    };
    let mut issues = Vec::with_capacity(raw_issues.len());
    for (i, item) in raw_issues.into_iter().enumerate() {
        let mut issue: Issue = serde_json::from_value(item).map_err(|e| {
            format!(
                "issue {i} is malformed ({e}): each needs `severity` (critical, high, medium or low) and `description`"
            )
        })?;
        issue.file = issue.file.filter(|f| !f.trim().is_empty());
        issues.push(issue);
    }
    issues.sort_by_key(|i| i.severity);
    Ok(Review { score, summary, issues })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_review_is_parsed_with_issues_worst_first() {
        let review = parse_review(&json!({
            "score": 6.5,
            "summary": " Decent. ",
            "issues": [
                {"severity": "low", "description": "typo"},
                {"severity": "critical", "file": "src/a.rs", "description": "panics on empty input"},
                {"severity": "medium", "file": "", "description": "no tests"}
            ]
        }))
        .unwrap();
        assert_eq!(
            review,
            Review {
                score: 6.5,
                summary: "Decent.".into(),
                issues: vec![
                    Issue {
                        severity: Severity::Critical,
                        file: Some("src/a.rs".into()),
                        description: "panics on empty input".into()
                    },
                    Issue { severity: Severity::Medium, file: None, description: "no tests".into() },
                    Issue { severity: Severity::Low, file: None, description: "typo".into() },
                ]
            }
        );
        assert_eq!(review.top_issues(1).len(), 1);
        assert_eq!(review.issues[0].to_string(), "[critical] src/a.rs: panics on empty input");
    }

    #[test]
    fn invalid_input_says_what_to_fix() {
        assert_eq!(
            parse_review(&json!({"score": 11, "summary": "", "issues": []})).unwrap_err(),
            "`score` must be a number from 0 to 10"
        );
        assert_eq!(parse_review(&json!({"score": "7", "issues": []})).unwrap_err(), "`summary` must be a string");
        assert_eq!(
            parse_review(&json!({"score": 7, "summary": "", "issues": {}})).unwrap_err(),
            "`issues` must be an array"
        );
        let err =
            parse_review(&json!({"score": 7, "summary": "", "issues": [{"severity": "urgent", "description": "x"}]}))
                .unwrap_err();
        assert!(err.starts_with("issue 0 is malformed"), "{err}");
        assert_eq!(parse_review(&json!({"score": "7.5", "summary": "s"})).unwrap().score, 7.5);
    }

    #[test]
    fn the_tool_schema_requires_what_the_parser_requires() {
        let tool = submit_review_tool();
        assert_eq!(tool["name"], SUBMIT_REVIEW);
        assert_eq!(tool["input_schema"]["required"], json!(["score", "summary", "issues"]));
    }
}
