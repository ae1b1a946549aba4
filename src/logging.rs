//! Log setup: `tracing` events go to stderr, never stdout, at a level chosen by `-v`/`-q`
//! unless `RUST_LOG` says otherwise.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `verbose` counts `-v`; `quiet` keeps errors only.
pub fn init(verbose: u8, quiet: bool, color: bool) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default_directive(verbose, quiet)));
    // A second init (tests calling `run` twice) is harmless: keep the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(verbose >= 2)
        .try_init();
}

fn default_directive(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,mmm=info",
        (false, 2) => "warn,mmm=debug",
        _ => "debug,mmm=trace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        assert_eq!(default_directive(0, true), "error");
        assert_eq!(default_directive(0, false), "warn");
        assert_eq!(default_directive(2, false), "warn,mmm=debug");
        assert_eq!(default_directive(5, false), "debug,mmm=trace");
    }
}
