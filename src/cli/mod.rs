//! The command-line interface: one function per command, on top of the
//! library's pipeline.
//!
//! Exit codes: 0 success, 1 error, 2 changes present under
//! `-detailed-exitcode`, 3 an internal bug (a panic).

pub mod apply_cmd;
pub mod args;
pub mod misc;
pub mod plan_cmd;
pub mod state_cmd;
pub mod ui;
pub mod workspace;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::lang::Diagnostics;
use crate::lang::source::SourceMap;
use args::{Cli, Command};
use ui::Ui;

/// Exit code for a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit code for an error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code for "changes present" under `-detailed-exitcode`.
pub const EXIT_CHANGES: u8 = 2;
/// Exit code for an internal bug.
pub const EXIT_BUG: u8 = 3;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Configuration problems, rendered with their source spans.
    Diagnostics(SourceMap, Diagnostics),
    /// An operational error with an optional next step.
    Message {
        /// What failed, on which value.
        message: String,
        /// What to do next.
        hint: Option<String>,
    },
    /// Exit with this code after printing nothing more.
    Exit(u8),
}

impl CliError {
    /// Returns an operational error.
    pub fn message(message: impl Into<String>, hint: Option<String>) -> CliError {
        CliError::Message {
            message: message.into(),
            hint,
        }
    }
}

impl From<crate::state::StateError> for CliError {
    fn from(error: crate::state::StateError) -> Self {
        let hint = error.hint();
        // The operating system's reason (a link loop, a file where a
        // directory belongs) shows the user what to fix.
        let mut message = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(reason) = cause {
            message.push_str(&format!(": {reason}"));
            cause = reason.source();
        }
        CliError::message(message, hint)
    }
}

impl From<crate::plan::file::PlanFileError> for CliError {
    fn from(error: crate::plan::file::PlanFileError) -> Self {
        CliError::message(error.to_string(), Some("Make a new plan with `tenancy plan -out FILE`.".to_owned()))
    }
}

/// Runs the command line and returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse_from(args::normalize_args(args)) {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let ui = Ui::new(cli.global.no_color);
    init_logging(cli.global.verbose, ui.color_stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            ui.error(&format!("failed to start the async runtime: {error}"), None);
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(dispatch(cli, ui));
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(CliError::Diagnostics(sources, diagnostics)) => {
            ui.diagnostics(&sources, &diagnostics);
            ExitCode::from(EXIT_ERROR)
        }
        Err(CliError::Message { message, hint }) => {
            ui.error(&message, hint.as_deref());
            ExitCode::from(EXIT_ERROR)
        }
        Err(CliError::Exit(code)) => ExitCode::from(code),
    }
}

async fn dispatch(cli: Cli, ui: Ui) -> Result<u8, CliError> {
    let global = &cli.global;
    match cli.command {
        Command::Init(args) => misc::init(global, &args, ui).await,
        Command::Validate(args) => misc::validate(global, &args, ui),
        Command::Fmt(args) => misc::fmt(global, &args, ui),
        Command::Plan(args) => plan_cmd::plan(global, &args, ui).await,
        Command::Apply(args) => apply_cmd::apply(global, &args, ui).await,
        Command::Destroy(args) => apply_cmd::destroy(global, &args, ui).await,
        Command::Show(args) => misc::show(global, &args, ui),
        Command::Output(args) => misc::output(global, &args, ui),
        Command::Graph(args) => misc::graph(global, &args),
        Command::State(command) => state_cmd::run(global, command, ui),
        Command::Import(args) => state_cmd::import(global, &args, ui).await,
        Command::ForceUnlock(args) => state_cmd::force_unlock(global, &args, ui),
        Command::Tenants(args) => misc::tenants(global, &args, ui),
        Command::Version => {
            print_stdout(&format!("tenancy v{}\n", env!("CARGO_PKG_VERSION")));
            Ok(EXIT_OK)
        }
    }
}

fn init_logging(verbose: u8, color: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "tenancy=debug,warn",
        _ => "tenancy=trace,tenancy_provider_sqlite=trace,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TENANCY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .without_time()
        .try_init();
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        ui::write_stderr(&format!(
            "error: tenancy hit an internal bug and stopped: {info}\n  hint: State written before this point is intact. \
             Please report this bug with the command you ran.\n"
        ));
        std::process::exit(i32::from(EXIT_BUG));
    }));
}

/// Leaves a value to be reclaimed when the process exits, for the large
/// values a command is done with just before it returns. Freeing the
/// configuration, state and plan of 100,000 resources one allocation at a
/// time took about a fifth of a `plan -refresh=false` (measured with perf),
/// and the process ends right after anyway.
pub(crate) fn free_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Whether a closed stdout is ignored rather than ending the process; set
/// while an apply changes real objects, so it finishes and records state.
static KEEP_GOING_ON_CLOSED_STDOUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes [`print_stdout`] ignore a closed stdout from now on.
pub fn keep_going_on_closed_stdout() {
    KEEP_GOING_ON_CLOSED_STDOUT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Writes to stdout. When the write fails, exits with code 1 (nothing was
/// applied yet), unless an apply is under way: quietly when the reader has
/// gone away, and with an error on stderr for any other failure, such as a
/// full disk.
pub fn print_stdout(text: &str) {
    write_stdout(|stdout| stdout.write_all(text.as_bytes()));
}

/// Runs `write` on standard output, through a buffer, and handles a
/// failed write as [`print_stdout`] does.
pub fn write_stdout(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) {
    use std::io::Write;
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let Err(error) = write(&mut stdout).and_then(|()| stdout.flush()) else {
        return;
    };
    // An apply under way keeps writing, so the error is reported once.
    static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let closed = error.kind() == std::io::ErrorKind::BrokenPipe;
    if !closed && !REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        ui::write_stderr(&format!("error: failed to write to standard output: {error}\n"));
    }
    if !KEEP_GOING_ON_CLOSED_STDOUT.load(std::sync::atomic::Ordering::Relaxed) {
        std::process::exit(i32::from(EXIT_ERROR));
    }
}
