//! Smart retries: what a session does differently after failures, beyond sending one
//! request again (that is [`crate::llm::retry`], inside a single request).
//!
//! - **Overload.** A request that gives up on overload (`529 overloaded_error` through
//!   every retry, or the retry budget spent on it) is sent once more on `fallback_model`,
//!   and the session's requests go to that model from then on ([`Fallback`]).
//! - **Narrowing, then moving on.** An iteration is attributed to its first (worst) issue.
//!   After `narrow_after` failed iterations on the same issue, the next iteration works on
//!   that issue alone, in its file; when that fails as well the issue is set aside, the
//!   reviews are told so, and the session moves on to the next issue. A set-aside issue is
//!   never attempted again in the session, so no issue is retried forever.
//! - **Escalation.** With `escalate_model` set, the editing conversation of an iteration
//!   that retries an issue which failed before runs on that model; the next iteration on
//!   another issue returns to `model`.
//!
//! Every switch is a [`Switch`]: an event when it happens and a line of the summary. The
//! issue decisions are read from the iteration records alone ([`IssueMemory::of`]), so a
//! resumed session decides as the uninterrupted one would. This module decides; it never
//! edits, commits, or sends anything of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::llm::{LlmError, MessagesRequest, Model, SendFuture, StreamUpdate};
use crate::state::session::{Issue, IterationRecord, Outcome};

pub use crate::state::session::{FocusAction, ModelReason, Switch};

impl Switch {
    pub fn iteration(&self) -> u32 {
        match self {
            Switch::Model { iteration, .. } | Switch::Focus { iteration, .. } => *iteration,
        }
    }

    /// The switch in a few words, for people: `model a → b (overloaded)`.
    pub fn describe(&self) -> String {
        match self {
            Switch::Model { from, to, reason, .. } => {
                let why = match reason {
                    ModelReason::Overloaded => "the API was overloaded",
                    ModelReason::Escalated => "retrying an issue that failed",
                    ModelReason::EscalationEnded => "the retried issue is done with",
                };
                format!("model {from} → {to} ({why})")
            }
            Switch::Focus { action: FocusAction::Narrowed, issue, failures, .. } => {
                format!("narrowed to one issue after {failures} failed iteration(s): {issue}")
            }
            Switch::Focus { action: FocusAction::MovedOn, issue, failures, .. } => {
                format!("moved on after {failures} failed iteration(s), setting aside: {issue}")
            }
        }
    }
}

/// Whether two review issues are the same: the same file and the same description (case
/// and spacing aside). Reviews are fresh requests, so this is as close as mmm can tell.
pub fn same_issue(a: &Issue, b: &Issue) -> bool {
    let norm = |s: &str| s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ");
    a.file == b.file && norm(&a.description) == norm(&b.description)
}

/// An issue that failed, how often, and (once set aside) after which iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub issue: Issue,
    pub failures: u32,
    pub set_aside_after: Option<u32>,
}

/// What the iterations so far say about their issues.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueMemory {
    pub issues: Vec<Failed>,
}

impl IssueMemory {
    /// Reads `iterations` in order: an iteration that was not kept counts as a failure of
    /// its first issue (one cut off by a crash does not: the issue was not the cause); a
    /// kept one clears its first issue's count. An issue failing more than `narrow_after`
    /// times (the narrowed attempt failed too) is set aside.
    pub fn of(iterations: &[IterationRecord], narrow_after: u32) -> Self {
        let mut memory = IssueMemory::default();
        for it in iterations {
            let Some(first) = it.issues.first() else { continue };
            let at = memory.issues.iter().position(|f| same_issue(&f.issue, first));
            match (it.outcome, at) {
                (Outcome::Committed, Some(i)) if memory.issues[i].set_aside_after.is_none() => {
                    memory.issues.remove(i);
                }
                (Outcome::Committed | Outcome::Crashed, _) => {}
                (_, Some(i)) => {
                    let failed = &mut memory.issues[i];
                    failed.failures += 1;
                    if failed.failures > narrow_after && failed.set_aside_after.is_none() {
                        failed.set_aside_after = Some(it.index);
                    }
                }
                (_, None) => memory.issues.push(Failed {
                    issue: first.clone(),
                    failures: 1,
                    set_aside_after: (1 > narrow_after).then_some(it.index),
                }),
            }
        }
        memory
    }

    /// The issue the next iteration narrows to: one not set aside that has failed
    /// `narrow_after` times (the latest such, should there be several).
    pub fn narrowed(&self, narrow_after: u32) -> Option<&Failed> {
        self.issues.iter().rev().find(|f| f.set_aside_after.is_none() && f.failures >= narrow_after)
    }

    /// How often `issue` failed and is still being tried (0 when it never failed or is set aside).
    pub fn failures(&self, issue: &Issue) -> u32 {
        self.issues
            .iter()
            .find(|f| f.set_aside_after.is_none() && same_issue(&f.issue, issue))
            .map_or(0, |f| f.failures)
    }

    pub fn is_set_aside(&self, issue: &Issue) -> bool {
        self.set_aside().any(|f| same_issue(&f.issue, issue))
    }

    pub fn set_aside(&self) -> impl Iterator<Item = &Failed> {
        self.issues.iter().filter(|f| f.set_aside_after.is_some())
    }

    /// The issues set aside by iteration `index` (the session moves on from them in the
    /// iteration after it).
    pub fn set_aside_by(&self, index: u32) -> impl Iterator<Item = &Failed> {
        self.issues.iter().filter(move |f| f.set_aside_after == Some(index))
    }
}

/// The model an iteration's editing conversation uses: `escalate` when its first issue
/// failed before and an escalation model is set, else the session's `model`.
pub fn editing_model<'a>(model: &'a str, escalate: Option<&'a str>, retried: bool) -> &'a str {
    match escalate {
        Some(stronger) if retried => stronger,
        _ => model,
    }
}

/// Whether `error` is a request that gave up on overload: a 529 or `overloaded_error`
/// after its retries (or with none allowed), or the retry budget spent on one.
pub fn gave_up_overloaded(error: &LlmError) -> bool {
    let last = error.root();
    last.status() == Some(529) || last.api().is_some_and(|api| api.kind == "overloaded_error")
}

/// The session's model with `fallback_model` behind it: a request that gives up on
/// overload is sent once more on the fallback (reported through
/// [`StreamUpdate::ModelSwitch`]), and from then on every request naming `primary` goes
/// to the fallback. Requests for other models (an escalation) keep their model unless
/// they too give up on overload.
pub struct Fallback {
    inner: Arc<dyn Model>,
    primary: String,
    fallback: String,
    switched: Arc<AtomicBool>,
}

impl Fallback {
    pub fn new(inner: Arc<dyn Model>, primary: String, fallback: String) -> Self {
        Self { inner, primary, fallback, switched: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether the session has switched to the fallback (shared with the session).
    pub fn switched(&self) -> Arc<AtomicBool> {
        self.switched.clone()
    }
}

impl Model for Fallback {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn send<'a>(
        &'a self,
        request: &'a MessagesRequest,
        on_event: &'a (dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> SendFuture<'a> {
        Box::pin(async move {
            let on_fallback = |request: &MessagesRequest| {
                let mut sent = request.clone();
                sent.model = self.fallback.clone();
                sent
            };
            let rewritten;
            let first = if self.switched.load(Ordering::SeqCst) && request.model == self.primary {
                rewritten = on_fallback(request);
                &rewritten
            } else {
                request
            };
            match self.inner.send(first, on_event).await {
                Err(error) if first.model != self.fallback && gave_up_overloaded(&error) => {
                    let from = first.model.clone();
                    if from == self.primary {
                        self.switched.store(true, Ordering::SeqCst);
                    }
                    on_event(StreamUpdate::ModelSwitch { from: &from, to: &self.fallback, error: &error });
                    self.inner.send(&on_fallback(first), on_event).await
                }
                answer => answer,
            }
        })
    }

    fn builtin_tools(&self) -> bool {
        self.inner.builtin_tools()
    }

    fn check<'a>(&'a self, model: &'a str) -> crate::llm::CheckFuture<'a> {
        self.inner.check(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::session::Severity;

    fn issue(file: &str, description: &str) -> Issue {
        Issue { severity: Severity::High, file: Some(file.into()), description: description.into() }
    }

    fn it(index: u32, outcome: Outcome, first: &Issue) -> IterationRecord {
        let mut it = IterationRecord::new(index, "t".into());
        it.outcome = outcome;
        it.issues = vec![first.clone(), issue("other.rs", "not the first")];
        it
    }

    #[test]
    fn issues_are_the_same_by_file_and_description_whatever_the_spacing_and_case() {
        let a = issue("src/a.rs", "The parser  panics");
        assert!(same_issue(&a, &issue("src/a.rs", "the parser panics")));
        assert!(!same_issue(&a, &issue("src/b.rs", "the parser panics")));
        assert!(!same_issue(&a, &issue("src/a.rs", "the lexer panics")));
    }

    #[test]
    fn two_failures_narrow_a_third_sets_the_issue_aside_and_it_stays_aside() {
        let x = issue("src/a.rs", "panics");
        let y = issue("src/b.rs", "slow");
        let one = [it(1, Outcome::RolledBack, &x)];
        let memory = IssueMemory::of(&one, 2);
        assert_eq!((memory.failures(&x), memory.narrowed(2)), (1, None));
        let two = [it(1, Outcome::RolledBack, &x), it(2, Outcome::NoChange, &x)];
        let memory = IssueMemory::of(&two, 2);
        assert_eq!(memory.narrowed(2).map(|f| (&f.issue, f.failures)), Some((&x, 2)));
        assert!(!memory.is_set_aside(&x));
        let three = [it(1, Outcome::RolledBack, &x), it(2, Outcome::NoChange, &x), it(3, Outcome::Failed, &x)];
        let memory = IssueMemory::of(&three, 2);
        assert_eq!(memory.narrowed(2), None);
        assert!(memory.is_set_aside(&x));
        assert_eq!(memory.failures(&x), 0);
        assert_eq!(memory.set_aside_by(3).map(|f| f.failures).collect::<Vec<_>>(), [3]);
        assert_eq!(memory.set_aside_by(2).count(), 0);
        // Even kept later (another review may word it the same), it stays aside.
        let four = [&three[..], &[it(4, Outcome::Committed, &x), it(5, Outcome::RolledBack, &y)]].concat();
        let memory = IssueMemory::of(&four, 2);
        assert!(memory.is_set_aside(&x));
        assert_eq!((memory.failures(&y), memory.narrowed(2)), (1, None));
    }

    #[test]
    fn a_kept_change_clears_the_count_and_a_crash_is_no_failure() {
        let x = issue("src/a.rs", "panics");
        let its = [it(1, Outcome::RolledBack, &x), it(2, Outcome::Committed, &x), it(3, Outcome::Crashed, &x)];
        assert_eq!(IssueMemory::of(&its, 2), IssueMemory::default());
        let mut no_issue = IterationRecord::new(4, "t".into());
        no_issue.outcome = Outcome::Failed;
        assert_eq!(IssueMemory::of(&[no_issue], 2), IssueMemory::default());
    }

    #[test]
    fn with_narrow_after_one_the_second_failure_moves_on() {
        let x = issue("src/a.rs", "panics");
        let memory = IssueMemory::of(&[it(1, Outcome::RolledBack, &x)], 1);
        assert_eq!(memory.narrowed(1).map(|f| f.failures), Some(1));
        let memory = IssueMemory::of(&[it(1, Outcome::RolledBack, &x), it(2, Outcome::RolledBack, &x)], 1);
        assert!(memory.is_set_aside(&x));
    }

    #[test]
    fn only_a_retried_issue_escalates_and_only_when_a_model_is_set() {
        assert_eq!(editing_model("m", Some("big"), true), "big");
        assert_eq!(editing_model("m", Some("big"), false), "m");
        assert_eq!(editing_model("m", None, true), "m");
    }

    #[test]
    fn overload_given_up_on_is_told_apart_from_other_failures() {
        use crate::llm::ApiError;
        let api = |status: Option<u16>, kind: &str| {
            LlmError::Api(ApiError {
                status,
                kind: kind.into(),
                message: "m".into(),
                request_id: None,
                retry_after: None,
                should_retry: None,
                provider: crate::llm::Provider::Anthropic,
            })
        };
        let gave_up = |last: LlmError| LlmError::GaveUp { attempts: 9, budget: None, last: Box::new(last) };
        assert!(gave_up_overloaded(&gave_up(api(Some(529), "overloaded_error"))));
        assert!(gave_up_overloaded(&api(None, "overloaded_error")));
        let spent = LlmError::GaveUp {
            attempts: 3,
            budget: Some(std::time::Duration::from_secs(120)),
            last: Box::new(api(Some(529), "overloaded_error")),
        };
        assert!(gave_up_overloaded(&spent));
        assert!(!gave_up_overloaded(&gave_up(api(Some(429), "rate_limit_error"))));
        assert!(!gave_up_overloaded(&api(Some(400), "invalid_request_error")));
    }
}
