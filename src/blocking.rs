//! Short blocking work called from async code: a git process, a state file written and
//! fsync'd, a tool's file I/O.
//!
//! [`call`] tells a multi-threaded tokio runtime that this thread is about to block, so
//! its other tasks (the Ctrl+C watcher) carry on elsewhere; outside a runtime, or on a
//! current-thread one, it simply runs the closure. It is for work of milliseconds; anything
//! that can take long (the analysis of a tree) goes to `spawn_blocking` instead.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `f`, which blocks briefly, without stalling the async runtime it is called from.
pub fn call<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works_outside_a_runtime() {
        assert_eq!(call(|| 1 + 1), 2);
    }

    #[test]
    fn works_on_a_current_thread_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(async { call(|| "ran") }), "ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lets_other_tasks_run_on_a_multi_threaded_runtime() {
        let other = tokio::spawn(async { 42 });
        let value = call(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            7
        });
        assert_eq!((value, other.await.unwrap()), (7, 42));
    }
}
