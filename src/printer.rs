//! What the user sees on stdout, decided in one place.
//!
//! Commands hand their results to the [`Printer`]; they never write to stdout themselves.
//! Human mode prints readable lines (coloured on a terminal, plain when piped or when
//! `NO_COLOR` is set) and shows spinners on a terminal. JSON mode prints exactly one JSON
//! object per line on stdout and nothing else; warnings and logs go to stderr in both modes.
//! A closed pipe (`mmm ... | head`) ends output quietly instead of failing.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use serde::Serialize;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Readable lines; colour and spinners on a terminal.
    Human,
    /// One JSON object per line on stdout, nothing else.
    Json,
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when the output is a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

/// Text styles that are no-ops when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Styles {
    enabled: bool,
}

impl Styles {
    pub fn plain() -> Self {
        Self { enabled: false }
    }

    /// Whether these styles colour text (so a tool mmm runs may colour its output too).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn paint(&self, style: Style, text: impl Display) -> String {
        if self.enabled { format!("{style}{text}{style:#}") } else { text.to_string() }
    }

    pub fn bold(&self, text: impl Display) -> String {
        self.paint(Style::new().bold(), text)
    }
    pub fn dim(&self, text: impl Display) -> String {
        self.paint(Style::new().dimmed(), text)
    }
    pub fn green(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Green.on_default(), text)
    }
    pub fn red(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Red.on_default().bold(), text)
    }
    pub fn yellow(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Yellow.on_default().bold(), text)
    }
    pub fn cyan(&self, text: impl Display) -> String {
        self.paint(AnsiColor::Cyan.on_default(), text)
    }
}

/// A result a command prints: a JSON object in JSON mode, lines of text in human mode.
pub trait Report: Serialize {
    /// The human rendering, without a trailing newline.
    fn human(&self, styles: &Styles) -> String;
}

/// Options the printer is built from (the global command-line options).
#[derive(Debug, Clone, Copy)]
pub struct PrinterOptions {
    pub format: OutputFormat,
    pub color: ColorChoice,
    pub quiet: bool,
    /// `NO_COLOR` set to a non-empty value.
    pub no_color_env: bool,
    /// Unattended (`--ci`, or `CI=true`): no spinners; progress lines go to stderr with a
    /// timestamp, so stdout holds only results (and workflow commands).
    pub ci: bool,
    /// Running in GitHub Actions: failing checks are reported as annotations.
    pub github: bool,
}

/// The only writer to stdout.
#[derive(Debug, Clone)]
pub struct Printer {
    format: OutputFormat,
    quiet: bool,
    stdout_styles: Styles,
    stderr_styles: Styles,
    stderr_tty: bool,
    ci: bool,
    github: bool,
}

impl Printer {
    pub fn new(opts: PrinterOptions) -> Self {
        let decide = |tty: bool| match opts.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !opts.no_color_env,
        };
        let stderr_tty = std::io::stderr().is_terminal();
        Self {
            format: opts.format,
            quiet: opts.quiet,
            stdout_styles: Styles {
                enabled: opts.format == OutputFormat::Human && decide(std::io::stdout().is_terminal()),
            },
            stderr_styles: Styles { enabled: decide(stderr_tty) },
            stderr_tty,
            ci: opts.ci,
            github: opts.github,
        }
    }

    /// Unattended mode: no spinners, timestamped progress on stderr.
    pub fn is_ci(&self) -> bool {
        self.ci
    }

    /// Whether failing checks should become GitHub annotations.
    pub fn github_annotations(&self) -> bool {
        self.github
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Styles for text going to stdout.
    pub fn styles(&self) -> Styles {
        self.stdout_styles
    }

    /// Styles for text going to stderr.
    pub fn stderr_styles(&self) -> Styles {
        self.stderr_styles
    }

    /// Prints a command's result: its human rendering, or one JSON line.
    /// In human mode `-q` suppresses it; JSON output is the machine result and always printed.
    pub fn report<R: Report>(&self, report: &R) -> anyhow::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(report),
            OutputFormat::Human if self.quiet => Ok(()),
            OutputFormat::Human => self.write_stdout(&report.human(&self.stdout_styles)),
        }
    }

    /// Prints one JSON object on its own line (JSON mode only; ignored in human mode).
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        if self.format != OutputFormat::Json {
            return Ok(());
        }
        let line = serde_json::to_string(value)?;
        self.write_stdout(&line)
    }

    /// Prints a line of progress in human mode (unless `-q`); nothing in JSON mode. In CI
    /// mode it goes to stderr with a timestamp on every line.
    pub fn line(&self, text: impl Display) -> anyhow::Result<()> {
        if self.format == OutputFormat::Human && !self.quiet {
            if self.ci {
                eprintln!("{}", crate::ci::ci_line(&crate::ci::timestamp(), &text.to_string()));
            } else {
                self.write_stdout(&text.to_string())?;
            }
        }
        Ok(())
    }

    /// A workflow command for the CI runner (`::error file=...::...`), on stdout in human
    /// mode, where the runner reads it. In JSON mode the caller emits an event instead.
    pub fn workflow_command(&self, command: impl Display) -> anyhow::Result<()> {
        if self.format == OutputFormat::Human {
            self.write_stdout(&command.to_string())?;
        }
        Ok(())
    }

    /// Writes bytes to stdout as they are (a completion script), whatever the mode.
    pub fn raw(&self, bytes: &[u8]) -> anyhow::Result<()> {
        ignore_broken_pipe(std::io::stdout().lock().write_all(bytes))
    }

    /// A warning on stderr, shown in every mode unless `-q`.
    pub fn warn(&self, text: impl Display) {
        if !self.quiet {
            eprintln!("{} {text}", self.stderr_styles.yellow("warning:"));
        }
    }

    /// A spinner on stderr while something slow happens; hidden unless stderr is a
    /// terminal in human mode. Finish it with [`Spinner::finish`] or by dropping it.
    pub fn spinner(&self, message: impl Into<String>) -> Spinner {
        let visible = self.stderr_tty && self.format == OutputFormat::Human && !self.quiet && !self.ci;
        let bar = if visible {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_message(message.into());
        Spinner { bar }
    }

    /// A spinner whose line is `render()`, drawn anew at every tick (a clock that runs, a
    /// count that grows); hidden like [`Printer::spinner`].
    pub fn live_spinner(&self, render: impl Fn() -> String + Send + Sync + Clone + 'static) -> Spinner {
        let spinner = self.spinner("");
        let style = indicatif::ProgressStyle::with_template("{spinner} {line}").expect("a valid template").with_key(
            "line",
            move |_: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&render());
            },
        );
        spinner.bar.set_style(style);
        spinner
    }

    fn write_stdout(&self, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        ignore_broken_pipe(out.write_all(text.as_bytes()).and_then(|()| out.write_all(b"\n")))
    }
}

/// A running spinner.
pub struct Spinner {
    bar: indicatif::ProgressBar,
}

impl Spinner {
    pub fn set_message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }

    /// Runs `f` (which prints) with the spinner's line cleared, then draws it again, so no
    /// spinner line is left in the printed text.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Thousands separators: 12345 → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `$0.08`, or `$?` when the price is unknown.
pub fn usd(cost: Option<f64>) -> String {
    cost.map_or_else(|| "$?".to_string(), |c| format!("${c:.2}"))
}

fn ignore_broken_pipe(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(
            (thousands(0), thousands(999), thousands(1_234_567)),
            ("0".into(), "999".into(), "1,234,567".into())
        );
        assert_eq!((usd(Some(0.084)), usd(None)), ("$0.08".into(), "$?".into()));
    }

    #[test]
    fn plain_styles_add_no_escape_codes() {
        let s = Styles::plain();
        assert_eq!(s.bold("x") + &s.red("y") + &s.dim("z"), "xyz");
    }

    #[test]
    fn enabled_styles_wrap_text_in_ansi_codes() {
        let s = Styles { enabled: true };
        assert_eq!(s.green("ok"), "\u{1b}[32mok\u{1b}[0m");
    }
}
