//! The page and the Markdown from a session record.

use super::*;
use crate::state::session::IterationRecord;

fn repo() -> (tempfile::TempDir, Git) {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git").args(["init", "-q"]).arg(dir.path()).status().unwrap();
    assert!(status.success());
    let git = Git::open(dir.path()).unwrap();
    (dir, git)
}

fn record() -> SessionRecord {
    let text = r#"{"version":1,"id":"20261201-100000-abcd","kind":"improve","status":"nothing_kept","branch":"mmm/x",
        "start_commit":"abc","started_at":"2026-12-01T10:00:00Z","ended_at":"2026-12-01T10:05:00Z","elapsed_secs":300,
        "stop_reason":null,"settings":{"model":"claude-sonnet-5","limits":{"target":9.0,"max_iterations":1,
        "budget_usd":null,"max_tokens":null,"time_limit":null,"max_stalled":1,"max_failures":1},"fix_rounds":1,
        "max_turns":1,"max_output_tokens":1,"checks":["make test"],"check_timeout_secs":1,"focus":null,"in_place":false},
        "baseline":[{"command":"make test","exit_code":0,"passed":true,"timed_out":false,"duration_ms":1500,
        "cpu_ms":1200,"peak_rss_kb":20480}],"iterations":[],
        "usage":{"input_tokens":100,"output_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":400},
        "cost_usd":0.25,"requests":3,"scores":[6.0]}"#;
    let mut r: SessionRecord = serde_json::from_str(text).unwrap();
    let mut it = IterationRecord::new(1, "2026-12-01T10:00:00Z".into());
    it.ended_at = "2026-12-01T10:01:00Z".into();
    it.outcome = Outcome::RolledBack;
    it.summary = Some("<script>alert('x')</script> & more".into());
    it.cost_usd = Some(0.2);
    r.iterations.push(it);
    r
}

#[test]
fn the_page_escapes_what_it_shows_and_references_nothing_outside() {
    let (_dir, git) = repo();
    let page = html(&git, &[record()]).unwrap();
    assert!(page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; more"), "{page}");
    assert!(!page.contains("<script"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(page.contains(r#"data-iterations="1" data-commits="0" data-input-tokens="100""#), "{page}");
    assert!(page.contains(r#"data-cost-usd="0.25""#), "{page}");
    assert_eq!(page.matches("<svg").count(), 4);
    assert!(page.contains("<td class=\"num\">1.20s</td><td class=\"num\">20.0 MiB</td>"), "{page}");
}

#[test]
fn the_markdown_is_the_ci_report_and_the_checks_resources() {
    let md = markdown(&[record()]);
    assert!(md.starts_with("## mmm improve: nothing_kept\n"), "{md}");
    assert!(md.contains("| baseline | `make test` | exit 0 | 1.50s | 1.20s | 20.0 MiB |\n"), "{md}");
}

#[test]
fn totals_add_up_and_an_unpriced_session_leaves_the_cost_unknown() {
    let mut unpriced = record();
    unpriced.cost_usd = None;
    let t = Totals::of(&[record(), record()]);
    assert_eq!((t.sessions, t.iterations, t.input_tokens, t.cost_usd), (2, 2, 200, Some(0.5)));
    assert_eq!(Totals::of(&[record(), unpriced]).cost_usd, None);
}
