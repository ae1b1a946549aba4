//! When and how long to wait before trying a failed API call again.
//!
//! The official SDKs' policy, with more attempts (`max_retries`, default 8) because mmm runs
//! unattended: retry what [`LlmError::is_retryable`] allows; wait what the API asked for
//! (`retry-after-ms`, else `retry-after` in seconds or as an HTTP date) when it asked,
//! else `0.5 s · 2ⁿ` capped at 8 s, times `1 − 0.25 · random`.
//!
//! Every request also has a time budget (`retry_budget`, default 2 minutes), so a dead
//! connection cannot hold a session for long: no retry starts once the time since the
//! first attempt plus the wait would pass it. The clock restarts when an attempt failed
//! after the API had begun to answer (a stream cut, stalled or ended early), since the API
//! was alive then. A wait the API asks for that is longer than what is left of the budget
//! fails at once ([`LlmError::RetryLater`]), saying how long to wait.
//! The waiting goes through a [`Sleeper`], so tests record the delays instead of sleeping.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use super::error::LlmError;

const INITIAL_BACKOFF: f64 = 0.5;
const MAX_BACKOFF: f64 = 8.0;

/// Waits between attempts. Tests inject one that records the delay and returns at once.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// How many times to retry, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// The most time one request may take over its retries (see the module comment).
    pub budget: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    Retry(Duration),
    /// The error is final, or every allowed attempt has been made.
    GiveUp,
    /// The next attempt (after its wait) would start past the budget.
    BudgetSpent,
    /// The API asked to wait this long, more than what is left of the budget.
    WaitTooLong(Duration),
}

impl RetryPolicy {
    /// What to do after `err`, when `retries_taken` retries have already been made and
    /// `elapsed` has passed on the budget's clock.
    pub fn decide(&self, err: &LlmError, retries_taken: u32, elapsed: Duration) -> Decision {
        if !err.is_retryable() {
            return Decision::GiveUp;
        }
        let left = self.budget.saturating_sub(elapsed);
        let asked = err.api().and_then(|e| e.retry_after).filter(|d| !d.is_zero());
        if let Some(asked) = asked.filter(|asked| *asked > left) {
            return Decision::WaitTooLong(asked);
        }
        if retries_taken >= self.max_retries {
            return Decision::GiveUp;
        }
        let delay = asked.unwrap_or_else(|| backoff(retries_taken, fastrand::f64()));
        if delay >= left {
            return Decision::BudgetSpent;
        }
        Decision::Retry(delay)
    }

    /// Runs `attempt` until it succeeds or the policy gives up, calling `on_retry` with the
    /// retry number (from 1), the wait and the error before each wait. An error after at
    /// least one retry, or once the budget is spent, comes back as [`LlmError::GaveUp`]; a
    /// wait asked for past the budget as [`LlmError::RetryLater`].
    pub async fn run<T, F, Fut>(
        &self,
        sleeper: &dyn Sleeper,
        mut attempt: F,
        on_retry: impl Fn(u32, Duration, &LlmError),
    ) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        let mut retries = 0;
        let mut clock = Instant::now();
        loop {
            let err = match attempt().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if err.after_response() {
                clock = Instant::now();
            }
            let attempts = retries + 1;
            match self.decide(&err, retries, clock.elapsed()) {
                Decision::Retry(delay) => {
                    retries += 1;
                    on_retry(retries, delay, &err);
                    sleeper.sleep(delay).await;
                }
                Decision::GiveUp if retries == 0 => return Err(err),
                Decision::GiveUp => return Err(LlmError::GaveUp { attempts, budget: None, last: Box::new(err) }),
                Decision::BudgetSpent => {
                    return Err(LlmError::GaveUp { attempts, budget: Some(self.budget), last: Box::new(err) });
                }
                Decision::WaitTooLong(wait) => {
                    return Err(LlmError::RetryLater { wait, budget: self.budget, last: Box::new(err) });
                }
            }
        }
    }
}

/// Exponential backoff with jitter; `random` is in `[0, 1)`.
pub fn backoff(retries_taken: u32, random: f64) -> Duration {
    let base = (INITIAL_BACKOFF * 2f64.powi(retries_taken.min(16) as i32)).min(MAX_BACKOFF);
    Duration::from_secs_f64(base * (1.0 - 0.25 * random))
}

/// The wait a response asks for: `retry-after-ms` (milliseconds), else `retry-after` as
/// seconds or an HTTP date (relative to `now`). Unreadable or past values give `None`.
pub fn parse_retry_after(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let seconds = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
    if let Some(ms) = retry_after_ms.and_then(seconds) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = retry_after?;
    if let Some(secs) = seconds(value) {
        return Some(Duration::from_secs_f64(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value.trim()).ok()?;
    let millis = at.as_millisecond().checked_sub(now.as_millisecond())?;
    u64::try_from(millis).ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::error::ApiError;
    use std::sync::Mutex;

    fn api(status: u16, retry_after: Option<Duration>) -> LlmError {
        LlmError::Api(ApiError {
            status: Some(status),
            kind: "x".into(),
            message: String::new(),
            request_id: None,
            retry_after,
            should_retry: None,
            provider: crate::llm::error::Provider::Anthropic,
        })
    }

    #[test]
    fn backoff_doubles_up_to_eight_seconds_and_jitter_only_shortens() {
        let secs: Vec<f64> = (0..7).map(|n| backoff(n, 0.0).as_secs_f64()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        assert_eq!(backoff(3, 0.999_999).as_secs_f64().round(), 3.0);
        assert_eq!(backoff(100, 0.0), Duration::from_secs(8));
    }

    const BUDGET: Duration = Duration::from_secs(120);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_asked_wait_is_obeyed_when_it_fits_the_budget() {
        let policy = RetryPolicy { max_retries: 8, budget: BUDGET };
        assert_eq!(policy.decide(&api(429, Some(secs(7))), 0, secs(0)), Decision::Retry(secs(7)));
        assert_eq!(policy.decide(&api(429, Some(secs(90))), 0, secs(0)), Decision::Retry(secs(90)));
        let Decision::Retry(zero) = policy.decide(&api(429, Some(Duration::ZERO)), 2, secs(0)) else { panic!() };
        assert!(zero > Duration::from_millis(1400) && zero <= secs(2), "{zero:?}");
        assert_eq!(policy.decide(&api(429, None), 8, secs(0)), Decision::GiveUp);
        assert_eq!(policy.decide(&api(400, None), 0, secs(0)), Decision::GiveUp);
    }

    #[test]
    fn the_budget_counts_elapsed_time_plus_the_wait() {
        let policy = RetryPolicy { max_retries: 8, budget: BUDGET };
        // Asked waits: what is left of the budget decides, however many retries are left.
        assert_eq!(policy.decide(&api(429, Some(secs(600))), 0, secs(0)), Decision::WaitTooLong(secs(600)));
        assert_eq!(policy.decide(&api(429, Some(secs(30))), 0, secs(100)), Decision::WaitTooLong(secs(30)));
        assert_eq!(policy.decide(&api(429, Some(secs(30))), 8, secs(100)), Decision::WaitTooLong(secs(30)));
        assert_eq!(policy.decide(&api(429, Some(secs(20))), 0, secs(99)), Decision::Retry(secs(20)));
        // Backoff (0.5 s at the first retry, 6-8 s at the sixth): a retry must start within the budget.
        assert!(matches!(policy.decide(&api(529, None), 0, secs(119)), Decision::Retry(_)));
        assert_eq!(policy.decide(&api(529, None), 5, secs(115)), Decision::BudgetSpent);
        assert_eq!(policy.decide(&api(529, None), 0, secs(120)), Decision::BudgetSpent);
        assert_eq!(policy.decide(&api(529, None), 0, secs(500)), Decision::BudgetSpent);
        // A silent server with 60 s first-byte timeouts: the second failure ends it.
        let silent = LlmError::NoResponse(secs(60));
        assert!(matches!(policy.decide(&silent, 0, secs(60)), Decision::Retry(_)));
        assert_eq!(policy.decide(&silent, 1, Duration::from_millis(120_500)), Decision::BudgetSpent);
        // A final error is final within any budget.
        assert_eq!(policy.decide(&api(401, Some(secs(1))), 0, secs(0)), Decision::GiveUp);
    }

    #[test]
    fn retry_after_reads_milliseconds_seconds_and_dates() {
        let now: jiff::Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after(Some("1500"), Some("9"), now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after(None, Some("2.5"), now), Some(Duration::from_millis(2500)));
        assert_eq!(parse_retry_after(None, Some("Tue, 24 Nov 2026 10:00:30 GMT"), now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(None, Some("Tue, 24 Nov 2026 09:00:00 GMT"), now), None);
        assert_eq!(parse_retry_after(Some("soon"), Some("later"), now), None);
        assert_eq!(parse_retry_after(None, None, now), None);
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Duration>>);
    impl Sleeper for Recorder {
        fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            self.0.lock().unwrap().push(d);
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn run_retries_until_success_or_gives_up_counting_attempts() {
        let sleeper = Recorder::default();
        let policy = RetryPolicy { max_retries: 2, budget: BUDGET };
        let calls = Mutex::new(0);
        let result = policy
            .run(
                &sleeper,
                || {
                    *calls.lock().unwrap() += 1;
                    async { Err::<(), _>(api(529, Some(Duration::from_secs(1)))) }
                },
                |_, _, _| {},
            )
            .await;
        assert!(matches!(result, Err(LlmError::GaveUp { attempts: 3, budget: None, .. })));
        assert_eq!(*sleeper.0.lock().unwrap(), [Duration::from_secs(1); 2]);

        let calls = Mutex::new(0);
        let retries = Mutex::new(Vec::new());
        let result = policy
            .run(
                &sleeper,
                || {
                    let n = {
                        let mut c = calls.lock().unwrap();
                        *c += 1;
                        *c
                    };
                    async move { if n < 2 { Err(api(500, Some(Duration::from_secs(2)))) } else { Ok(n) } }
                },
                |n, d, _| retries.lock().unwrap().push((n, d)),
            )
            .await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(*retries.lock().unwrap(), [(1, Duration::from_secs(2))]);

        let result = policy.run(&sleeper, || async { Err::<(), _>(api(400, None)) }, |_, _, _| {}).await;
        assert!(matches!(result, Err(LlmError::Api(_))), "a first non-retryable error comes back as it is");

        let spent = RetryPolicy { max_retries: 8, budget: Duration::ZERO };
        let result = spent.run(&sleeper, || async { Err::<(), _>(api(529, None)) }, |_, _, _| {}).await;
        assert!(matches!(result, Err(LlmError::GaveUp { attempts: 1, budget: Some(Duration::ZERO), .. })));
        let result = policy.run(&sleeper, || async { Err::<(), _>(api(429, Some(secs(600)))) }, |_, _, _| {}).await;
        let Err(err @ LlmError::RetryLater { .. }) = result else { panic!("{result:?}") };
        assert_eq!(
            err.to_string(),
            "Anthropic API error 429 x: the API asks to wait 10m before trying again, more than the 2m \
             retry_budget allows; try again in 10m"
        );
    }
}
