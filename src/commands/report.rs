//! `mmm report`: picks the sessions (one by id, the last, or those since a day), renders
//! them ([`crate::report`]) and writes the file or prints the document.

use serde::Serialize;

use super::Ctx;
use crate::cli::{ReportArgs, ReportFormat};
use crate::error::CliError;
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::state::Layout;
use crate::state::session::SessionRecord;

#[derive(Serialize)]
struct Written {
    r#type: &'static str,
    format: ReportFormat,
    file: String,
    sessions: Vec<String>,
}

impl Report for Written {
    fn human(&self, s: &Styles) -> String {
        format!("Wrote {} ({} session(s))", s.cyan(&self.file), self.sessions.len())
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &ReportArgs) -> anyhow::Result<()> {
    if args.out.is_none() && ctx.printer.is_json() {
        return Err(CliError::usage("with --output json, the report needs a file to go to")
            .with_hint("add `-o FILE`; the JSON line then says what was written")
            .into());
    }
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    let records = match &args.since {
        Some(text) => {
            let since = crate::index::stats::parse_since(text).ok_or_else(|| {
                CliError::usage(format!("`--since {text}` is not a date or a time"))
                    .with_hint("give a day like 2026-12-01 or a time like 2026-12-01T12:00:00Z")
            })?;
            let (all, unreadable) = SessionRecord::load_all(&layout.sessions_dir());
            for (path, e) in unreadable {
                ctx.printer.warn(format!("skipping {}: {e:#}", path.display()));
            }
            let picked: Vec<SessionRecord> = all
                .into_iter()
                .filter(|r| r.started_at.parse::<jiff::Timestamp>().is_ok_and(|t| t.as_millisecond() >= since))
                .collect();
            if picked.is_empty() {
                return Err(CliError::usage(format!("no session of this repository started since {text}"))
                    .with_hint("`mmm history` lists the sessions and when they started")
                    .into());
            }
            picked
        }
        None => vec![SessionRecord::find(&layout, args.session.as_deref())?],
    };
    let document = match args.format {
        ReportFormat::Html => crate::report::html(&git, &records)?,
        ReportFormat::Md => crate::report::markdown(&records),
    };
    match &args.out {
        Some(out) => {
            let path = ctx.cwd.join(out);
            crate::state::write_atomic(&path, document.as_bytes())?;
            ctx.printer.report(&Written {
                r#type: "report",
                format: args.format,
                file: out.display().to_string(),
                sessions: records.iter().map(|r| r.id.clone()).collect(),
            })
        }
        None => ctx.printer.raw(document.as_bytes()),
    }
}
