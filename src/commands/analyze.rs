//! `mmm analyze [PATH]`: what the project is, how to build and test it, and what is weakest.
//! The analysis itself is the analyzer's; this file resolves the directory, uses the cache
//! unless `--no-cache`, and prints the result.

use std::time::Instant;

use serde::Serialize;

use super::Ctx;
use crate::analyzer::{self, Analysis, CacheStatus, Options};
use crate::cli::AnalyzeArgs;
use crate::error::CliError;
use crate::printer::{Report, Styles};

#[derive(Serialize)]
struct AnalyzeReport {
    r#type: &'static str,
    cache: CacheStatus,
    duration_ms: u64,
    #[serde(flatten)]
    analysis: Analysis,
}

impl Report for AnalyzeReport {
    fn human(&self, s: &Styles) -> String {
        let source = match self.cache {
            CacheStatus::Hit => "reused from .mmm/cache/analysis.json".to_string(),
            _ => format!("analyzed in {:.2} s", self.duration_ms as f64 / 1000.0),
        };
        format!("{}\n\n{}", self.analysis.human(s), s.dim(source))
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &AnalyzeArgs) -> anyhow::Result<()> {
    let root = match &args.path {
        Some(path) => {
            let root = ctx.cwd.join(path);
            if !root.exists() {
                return Err(CliError::usage(format!("{} does not exist", path.display()))
                    .with_hint("pass the directory of a project, e.g. `mmm analyze .`")
                    .into());
            }
            root
        }
        None => ctx.settings.project_root(&ctx.cwd).to_path_buf(),
    };
    let spinner = ctx.printer.spinner(format!("Analyzing {}", root.display()));
    let started = Instant::now();
    let (analysis, cache) = analyzer::load_or_analyze(&root, &Options::from_settings(&ctx.settings), !args.no_cache)?;
    spinner.finish();
    let duration_ms = started.elapsed().as_millis() as u64;
    ctx.printer.report(&AnalyzeReport { r#type: "analysis", cache, duration_ms, analysis })
}
