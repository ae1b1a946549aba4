//! When a session stops. Every rule is here, as pure functions of the limits and the
//! progress so far, so each one is unit-tested and every stop can state its reason.

use std::time::Duration;

pub use crate::state::session::{Limits, StopReason};

/// What a session has done so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub iterations: u32,
    pub cost_usd: f64,
    pub tokens: u64,
    pub elapsed: Duration,
    /// Iterations in a row that ended without a commit.
    pub stalled_streak: u32,
    /// Iterations in a row that failed.
    pub failure_streak: u32,
}

/// The rules checked before an iteration starts: counts, budgets, time and streaks.
pub fn before_iteration(limits: &Limits, progress: &Progress) -> Option<StopReason> {
    if progress.iterations >= limits.max_iterations {
        return Some(StopReason::IterationLimit { iterations: progress.iterations });
    }
    if let Some(budget) = limits.budget_usd.filter(|b| progress.cost_usd >= *b) {
        return Some(StopReason::Budget { spent_usd: progress.cost_usd, budget_usd: budget });
    }
    if let Some(limit) = limits.max_tokens.filter(|l| progress.tokens >= *l) {
        return Some(StopReason::TokenLimit { used: progress.tokens, limit });
    }
    if let Some(limit) = limits.time_limit.filter(|l| progress.elapsed >= *l) {
        return Some(StopReason::TimeLimit { limit_secs: limit.as_secs() });
    }
    if progress.failure_streak >= limits.max_failures {
        return Some(StopReason::Failing { iterations: progress.failure_streak });
    }
    if progress.stalled_streak >= limits.max_stalled {
        return Some(StopReason::Stalled { iterations: progress.stalled_streak });
    }
    None
}

/// The rules checked after a review: the target with the checks green, or nothing left.
pub fn after_review(limits: &Limits, score: f64, issues: usize, checks_green: bool) -> Option<StopReason> {
    if score >= limits.target && checks_green {
        return Some(StopReason::TargetReached { score, target: limits.target });
    }
    if issues == 0 && checks_green {
        return Some(StopReason::NoIssues { score });
    }
    None
}

/// Whether a budget is exhausted mid-iteration (checked between model turns).
pub fn over_budget(limits: &Limits, cost_usd: f64, tokens: u64) -> bool {
    limits.budget_usd.is_some_and(|b| cost_usd >= b) || limits.max_tokens.is_some_and(|l| tokens >= l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            target: 8.0,
            max_iterations: 5,
            budget_usd: Some(1.0),
            max_tokens: Some(10_000),
            time_limit: Some(Duration::from_secs(60)),
            max_stalled: 2,
            max_failures: 2,
        }
    }

    #[test]
    fn nothing_stops_a_fresh_session() {
        assert_eq!(before_iteration(&limits(), &Progress::default()), None);
    }

    #[test]
    fn each_limit_stops_with_its_reason() {
        let l = limits();
        let p = |f: fn(&mut Progress)| {
            let mut p = Progress::default();
            f(&mut p);
            before_iteration(&l, &p)
        };
        assert_eq!(p(|p| p.iterations = 5), Some(StopReason::IterationLimit { iterations: 5 }));
        assert_eq!(p(|p| p.cost_usd = 1.25), Some(StopReason::Budget { spent_usd: 1.25, budget_usd: 1.0 }));
        assert_eq!(p(|p| p.tokens = 10_000), Some(StopReason::TokenLimit { used: 10_000, limit: 10_000 }));
        assert_eq!(p(|p| p.elapsed = Duration::from_secs(61)), Some(StopReason::TimeLimit { limit_secs: 60 }));
        assert_eq!(p(|p| p.failure_streak = 2), Some(StopReason::Failing { iterations: 2 }));
        assert_eq!(p(|p| p.stalled_streak = 2), Some(StopReason::Stalled { iterations: 2 }));
    }

    #[test]
    fn unset_limits_never_stop() {
        let l = Limits { budget_usd: None, max_tokens: None, time_limit: None, ..limits() };
        let p = Progress { cost_usd: 1e9, tokens: u64::MAX, elapsed: Duration::MAX, ..Progress::default() };
        assert_eq!(before_iteration(&l, &p), None);
        assert!(!over_budget(&l, 1e9, u64::MAX));
    }

    #[test]
    fn the_target_counts_only_with_green_checks() {
        let l = limits();
        assert_eq!(after_review(&l, 8.5, 3, true), Some(StopReason::TargetReached { score: 8.5, target: 8.0 }));
        assert_eq!(after_review(&l, 8.5, 3, false), None);
        assert_eq!(after_review(&l, 6.0, 0, true), Some(StopReason::NoIssues { score: 6.0 }));
        assert_eq!(after_review(&l, 6.0, 2, true), None);
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            StopReason::TargetReached { score: 8.46, target: 8.0 }.to_string(),
            "target reached: score 8.5 ≥ 8.0 with the checks passing"
        );
        assert_eq!(StopReason::Budget { spent_usd: 1.2, budget_usd: 1.0 }.to_string(), "budget spent: $1.20 of $1.00");
        assert_eq!(StopReason::TimeLimit { limit_secs: 5400 }.to_string(), "time limit reached (1h30m)");
        assert!(!StopReason::Interrupted.is_success());
        assert!(StopReason::Stalled { iterations: 3 }.is_success());
    }
}
