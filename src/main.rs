//! The `mmm` binary: parse arguments, run, map the outcome to an exit code. Nothing else.
//! A failure is reported here and only here: `error:`/`hint:` text on stderr and, with
//! `--output json`, a last `{"type":"error"}` line on stdout.

use clap::Parser;
use mmm::cli::Cli;
use mmm::error::ErrorLine;
use mmm::printer::{OutputFormat, Printer, PrinterOptions};
use mmm::{Exit, error};

const REPORT_URL: &str = "https://github.com/mmm-dev/mmm/issues";

fn main() {
    install_panic_hook();
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let env: Vec<(String, String)> = std::env::vars().collect();
    let printer = Printer::new(PrinterOptions {
        format: cli.global.output,
        color: cli.global.color,
        quiet: cli.global.quiet,
        no_color_env,
        ci: cli.global.ci || mmm::ci::is_ci(&env),
        github: env.iter().any(|(k, v)| k == "GITHUB_ACTIONS" && v == "true"),
    });
    let styles = printer.stderr_styles();
    mmm::logging::init(cli.global.verbose, cli.global.quiet, styles.bold("x") != "x");

    let exit = match mmm::commands::exec(cli, &printer) {
        Ok(()) => Exit::Success,
        Err(err) => {
            let (exit, hint) = error::classify(&err);
            let mut text = format!("{} {err}", styles.red("error:"));
            for cause in err.chain().skip(1) {
                text.push_str(&format!("\n  {} {cause}", styles.dim("caused by:")));
            }
            if let Some(hint) = hint {
                text.push_str(&format!("\n{} {hint}", styles.cyan("hint:")));
            }
            eprintln!("{text}");
            // JSON output is the machine result: the failure is its last line, whatever `-q`.
            let _ = printer.json(&ErrorLine::new(&err, exit, hint));
            exit
        }
    };
    std::process::exit(exit.code());
}

/// Exits for a command line clap refused (or `--help`/`--version`, which are not errors).
/// clap prints its own text; with `--output json`, the error line follows on stdout.
fn usage_error(e: clap::Error) -> ! {
    // Lossy: an argument that is not UTF-8 is what clap refused, and must not panic here.
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    if e.use_stderr() && json_requested(&args) {
        let _ = e.print();
        let rendered = e.render().to_string();
        let message = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        let err = anyhow::anyhow!(message);
        let line = ErrorLine::new(&err, Exit::Usage, Some("`mmm --help` lists the commands and options"));
        let printer = Printer::new(PrinterOptions {
            format: OutputFormat::Json,
            color: mmm::printer::ColorChoice::Never,
            quiet: false,
            no_color_env: true,
            ci: false,
            github: false,
        });
        let _ = printer.json(&line);
        std::process::exit(Exit::Usage.code());
    }
    e.exit()
}

/// Whether the arguments ask for `--output json` (read before clap could parse them).
fn json_requested(args: &[String]) -> bool {
    args.iter().any(|a| a == "--output=json") || args.windows(2).any(|w| w[0] == "--output" && w[1] == "json")
}

/// Replaces Rust's panic message with one that says it is a bug and where to report it.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!(
            "error: mmm hit an internal bug ({payload}{location}).\n\
             hint: please report it at {REPORT_URL} with the command you ran and `mmm --version`;\n\
             \x20     your repository was left as it was at the last completed step."
        );
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
        std::process::exit(Exit::Failure.code());
    }));
}
