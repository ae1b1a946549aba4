//! `mmm man`: the roff manual page, generated from the CLI definition (clap_mangen) so it
//! always lists exactly the commands and options that exist. With `--dir`, one page per
//! command (`mmm.1`, `mmm-improve.1`, `mmm-config-show.1`, ...) written into a directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;
use clap_mangen::Man;
use serde::Serialize;

use crate::cli::{Cli, ManArgs};
use crate::error::CliError;
use crate::printer::{Printer, Report, Styles};

#[derive(Serialize)]
struct ManJson<'a> {
    r#type: &'static str,
    page: &'a str,
}

#[derive(Serialize)]
struct ManPages {
    r#type: &'static str,
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl Report for ManPages {
    fn human(&self, _: &Styles) -> String {
        self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join("\n")
    }
}

pub fn exec(printer: &Printer, cwd: &Path, args: &ManArgs) -> anyhow::Result<()> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let Some(dir) = &args.dir else {
        let page = render(&cli);
        return if printer.is_json() {
            printer.json(&ManJson { r#type: "man", page: &page })
        } else {
            printer.raw(page.as_bytes())
        };
    };
    let dir = cwd.join(dir);
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::usage(format!("cannot create {}: {e}", dir.display()))
            .with_hint("give `--dir` a directory you can write to, e.g. ~/.local/share/man/man1")
    })?;
    let mut files = Vec::new();
    write_pages(&cli, &dir, &mut files).with_context(|| format!("writing man pages to {}", dir.display()))?;
    printer.report(&ManPages { r#type: "man_pages", dir, files })
}

/// Writes the page of `cmd` and of every subcommand under it, parents first.
fn write_pages(cmd: &clap::Command, dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let path = dir.join(Man::new(cmd.clone()).get_filename());
    std::fs::write(&path, render(cmd))?;
    files.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, files)?;
    }
    Ok(())
}

/// The page of one command. clap_mangen's own sections, then the text after the options
/// (examples, exit codes, notes) as sections of their own, kept line for line: a man
/// viewer would otherwise run an example's lines together.
fn render(cmd: &clap::Command) -> String {
    let after = cmd.get_after_help().map(|h| h.to_string()).unwrap_or_default();
    let man = Man::new(cmd.clone().after_help(None::<&str>))
        .date(env!("COMMIT_DATE"))
        .source(concat!("mmm ", env!("VERSION_WITH_COMMIT")));
    let mut page = Vec::new();
    man.render(&mut page).expect("writing to a Vec cannot fail");
    let page = String::from_utf8(page).expect("clap_mangen writes UTF-8 for UTF-8 input");
    let mut extra = roff::Roff::new();
    for block in after.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let (heading, body) = match block.split_once('\n') {
            Some((first, rest)) if first.ends_with(':') && !first.starts_with(' ') => (Some(first), rest),
            _ => (None, block),
        };
        match heading {
            Some(heading) => extra.control("SH", [heading.trim_end_matches(':').to_uppercase().as_str()]),
            None => extra.control("PP", []),
        };
        extra.control("nf", []);
        for line in body.lines() {
            extra.text([roff::roman(line)]);
        }
        extra.control("fi", []);
    }
    // Both renderings open with the same preamble (how to typeset an apostrophe): once is enough.
    let extra = extra.render();
    let preamble_len =
        page.lines().take_while(|l| l.starts_with(".ie") || l.starts_with(".el")).map(|l| l.len() + 1).sum();
    let extra = extra.get(preamble_len..).filter(|_| extra.starts_with(&page[..preamble_len])).unwrap_or(&extra);
    // The version section comes last in clap_mangen's page; the examples go before it.
    match page.rfind(".SH VERSION") {
        Some(at) => format!("{}{extra}{}", &page[..at], &page[at..]),
        None => format!("{page}{extra}"),
    }
}
