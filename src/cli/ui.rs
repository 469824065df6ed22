//! Terminal output: colour decisions, error rendering, progress and prompts.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use owo_colors::OwoColorize;

use crate::apply::{ApplyError, Reporter};
use crate::lang::{Diagnostics, RenderOptions};
use crate::lang::source::SourceMap;
use crate::plan::{Action, ResourceChange};

/// How the CLI writes to the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Whether stdout gets ANSI colours.
    pub color: bool,
    /// Whether stderr gets ANSI colours.
    pub color_stderr: bool,
}

impl Ui {
    /// Decides colour from `-no-color`, `NO_COLOR` and whether each stream is
    /// a terminal.
    pub fn new(no_color: bool) -> Ui {
        let allowed = !no_color && std::env::var_os("NO_COLOR").is_none();
        Ui {
            color: allowed && std::io::stdout().is_terminal(),
            color_stderr: allowed && std::io::stderr().is_terminal(),
        }
    }

    /// Prints diagnostics to stderr.
    pub fn diagnostics(&self, sources: &SourceMap, diagnostics: &Diagnostics) {
        let width = terminal_width();
        let text = diagnostics.render(sources, RenderOptions { color: self.color_stderr, width });
        write_stderr(&text);
    }

    /// Prints an operational error with its hint to stderr.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        if self.color_stderr {
            write_stderr(&format!("{} {message}\n", "error:".red().bold()));
        } else {
            write_stderr(&format!("error: {message}\n"));
        }
        if let Some(hint) = hint {
            if self.color_stderr {
                write_stderr(&format!("  {} {hint}\n", "hint:".cyan().bold()));
            } else {
                write_stderr(&format!("  hint: {hint}\n"));
            }
        }
    }

    /// Prints a warning to stderr.
    pub fn warning(&self, message: &str) {
        if self.color_stderr {
            write_stderr(&format!("{} {message}\n", "warning:".yellow().bold()));
        } else {
            write_stderr(&format!("warning: {message}\n"));
        }
    }

    /// Returns `text` in bold when colour is on.
    pub fn bold(&self, text: &str) -> String {
        if self.color { text.bold().to_string() } else { text.to_owned() }
    }

    /// Returns `text` in green when colour is on.
    pub fn green(&self, text: &str) -> String {
        if self.color { text.green().to_string() } else { text.to_owned() }
    }
}

/// Writes to stderr, ignoring a closed stream: a reader that went away must
/// not stop a command halfway.
pub fn write_stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.parse().ok())
        .filter(|&columns: &usize| columns >= 40)
        .unwrap_or(100)
}

/// Asks for `yes` on stdin; anything else, or end of input, declines.
pub fn confirm(question: &str, detail: &str) -> bool {
    let mut stdout = std::io::stdout();
    let _ = write!(stdout, "\n{question}\n  {detail}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let _ = stdout.flush();
    let mut answer = String::new();
    match std::io::stdin().lock().read_line(&mut answer) {
        Ok(0) | Err(_) => false,
        Ok(_) => answer.trim() == "yes",
    }
}

/// Prints one line per started and finished change, with elapsed time.
pub struct ProgressReporter {
    color: bool,
    quiet: bool,
    lock: Mutex<()>,
}

impl ProgressReporter {
    /// Returns a reporter that writes to stdout; `quiet` prints only failures.
    pub fn new(color: bool, quiet: bool) -> ProgressReporter {
        ProgressReporter {
            color,
            quiet,
            lock: Mutex::new(()),
        }
    }

    /// Prints one progress line to stdout. Write errors are ignored, so an
    /// apply goes on and records its state when the reader of stdout is gone.
    fn line(&self, text: String) {
        let _guard = self.lock.lock();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    fn address(&self, address: &str) -> String {
        if self.color { address.bold().to_string() } else { address.to_owned() }
    }
}

fn progressive(action: Action) -> &'static str {
    match action {
        Action::Create => "Creating...",
        Action::Update => "Modifying...",
        Action::Replace => "Replacing...",
        Action::Delete => "Destroying...",
        Action::NoOp => "Reading...",
    }
}

fn completed(action: Action) -> &'static str {
    match action {
        Action::Create => "Creation complete",
        Action::Update => "Modifications complete",
        Action::Replace => "Replacement complete",
        Action::Delete => "Destruction complete",
        Action::NoOp => "Read complete",
    }
}

/// Formats a duration as Terraform does: `0s`, `12s`, `1m5s`.
pub fn format_elapsed(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    if seconds >= 60 {
        format!("{}m{}s", seconds / 60, seconds % 60)
    } else if elapsed.as_millis() < 1000 {
        format!("{}ms", elapsed.as_millis())
    } else {
        format!("{seconds}s")
    }
}

impl Reporter for ProgressReporter {
    fn started(&self, change: &ResourceChange) {
        if !self.quiet {
            self.line(format!("{}: {}", self.address(&change.address), progressive(change.action)));
        }
    }

    fn finished(&self, change: &ResourceChange, elapsed: Duration) {
        if !self.quiet {
            let elapsed = format_elapsed(elapsed);
            self.line(format!("{}: {} after {elapsed}", self.address(&change.address), completed(change.action)));
        }
    }

    fn failed(&self, change: &ResourceChange, elapsed: Duration, error: &ApplyError) {
        let elapsed = format_elapsed(elapsed);
        let label = if self.color { "failed".red().to_string() } else { "failed".to_owned() };
        self.line(format!("{}: {label} after {elapsed}: {}", self.address(&change.address), error.message));
    }

    fn skipped(&self, change: &ResourceChange, failed_dependency: &str) {
        self.line(format!(
            "{}: Skipped because `{failed_dependency}` failed",
            self.address(&change.address)
        ));
    }
}
