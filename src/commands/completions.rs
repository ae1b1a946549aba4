//! `mmm completions <shell>`: the completion script for a shell, generated from the CLI
//! definition so it can never list a command that does not exist.

use clap::CommandFactory;
use serde::Serialize;

use crate::cli::{Cli, CompletionsArgs};
use crate::printer::Printer;

#[derive(Serialize)]
struct CompletionsJson<'a> {
    r#type: &'static str,
    shell: String,
    script: &'a str,
}

pub fn exec(printer: &Printer, args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "mmm", &mut script);
    if printer.is_json() {
        let script = String::from_utf8(script)?;
        printer.json(&CompletionsJson { r#type: "completions", shell: args.shell.to_string(), script: &script })
    } else {
        printer.raw(&script)
    }
}
