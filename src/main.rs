//! The `rless` command line: parses arguments, enters the user namespace when
//! a command needs it, runs one command from `commands/`, and turns errors
//! into one line on stderr and docker's exit codes.

mod commands;

use std::process::ExitCode;

/// Exit code for errors of rless itself, as docker uses it.
const EXIT_RLESS_ERROR: u8 = 125;

fn main() -> ExitCode {
    rless::trace::init();
    // SAFETY: called first thing, before any other thread exists; restoring
    // the default action makes `rless images | head` end quietly, as other
    // command-line tools do, instead of failing on EPIPE.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    rless::userns::die_with_launcher();
    let cli = match commands::Cli::parse_args(commands::management_aliases(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || !e.use_stderr()
            {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(EXIT_RLESS_ERROR);
            }
            let msg = e.to_string();
            let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut first = lines
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            // "the following required arguments were not provided:" names
            // them on the lines after.
            if first.ends_with(':') {
                let more: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
                first = format!("{} {}", first, more.join(" "));
            }
            eprintln!("rless: {first}; see 'rless --help'");
            return ExitCode::from(EXIT_RLESS_ERROR);
        }
    };
    init_logging(cli.log_level.as_deref());
    match commands::run(cli) {
        Ok(code) => code,
        // Stopped by a signal: the work's error is its consequence, not news.
        Err(_) if rless::interrupt::stopped().is_some() => {
            ExitCode::from((128 + rless::interrupt::stopped().unwrap_or(0)) as u8)
        }
        Err(e) => {
            eprintln!("rless: {}", commands::error_line(&e));
            ExitCode::from(EXIT_RLESS_ERROR)
        }
    }
}

/// Warnings go to stderr as `rless: warning: …`, escaped as errors are
/// (what they quote may come from a layer or a registry); `--log-level` or
/// `RLESS_LOG` (`info`, `debug`, …) shows more, as `rless: info: …`.
fn init_logging(level: Option<&str>) {
    let filter = level
        .map(str::to_string)
        .or_else(|| std::env::var("RLESS_LOG").ok())
        .unwrap_or_else(|| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(OneLine)
        .init();
}

/// The format of every log line: `rless: LEVEL: message fields…`.
struct OneLine;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for OneLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing_subscriber::fmt::FormatFields;
        let mut text = String::new();
        ctx.format_fields(
            tracing_subscriber::fmt::format::Writer::new(&mut text),
            event,
        )?;
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        writeln!(
            writer,
            "rless: {level}: {}",
            rless::message::printable(&text)
        )
    }
}
