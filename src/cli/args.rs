//! Command-line arguments, parsed with clap.
//!
//! Terraform users write single-dash long flags (`-out=plan`,
//! `-auto-approve`); [`normalize_args`] rewrites those to the double-dash
//! form before clap parses them.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use tenancy_sdk::Value;

/// tenancy: declarative infrastructure as code for multi-tenant SaaS platforms.
#[derive(Debug, Parser)]
#[command(name = "tenancy", version, about, max_term_width = 100)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Directory of the configuration (default: the current directory).
    #[arg(long = "chdir", short = 'C', global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// Disable colour in output.
    #[arg(long = "no-color", global = true)]
    pub no_color: bool,
    /// Log engine decisions to stderr (`-vv` for per-resource detail).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Variable inputs accepted by commands that evaluate the configuration.
#[derive(Debug, Clone, Default, Args)]
pub struct VarArgs {
    /// Set a variable: `-var NAME=VALUE` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from an HCL file (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare the working directory and check that every provider connects.
    Init(InitArgs),
    /// Check the configuration and report every problem.
    Validate(ValidateArgs),
    /// Rewrite configuration files in canonical style.
    Fmt(FmtArgs),
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Make the changes of a plan.
    Apply(ApplyArgs),
    /// Destroy every resource in state.
    Destroy(DestroyArgs),
    /// Show a saved plan, or the state.
    Show(ShowArgs),
    /// Show output values from state.
    Output(OutputArgs),
    /// Print the dependency graph in Graphviz DOT.
    Graph(GraphArgs),
    /// Inspect and edit state.
    #[command(subcommand)]
    State(StateCommand),
    /// Adopt an existing object into state.
    Import(ImportArgs),
    /// Remove a lock left behind on the state.
    #[command(name = "force-unlock")]
    ForceUnlock(ForceUnlockArgs),
    /// List tenants from state with tier, region, databases and status.
    Tenants(TenantsArgs),
    /// Print the tenancy version.
    Version,
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Variable inputs.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Variable inputs.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// Arguments of `fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Exit with 1 when a file is not formatted, changing nothing.
    #[arg(long)]
    pub check: bool,
    /// Show the changes as a diff.
    #[arg(long)]
    pub diff: bool,
}

/// Output format of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Text for a terminal.
    Text,
    /// JSON in the shape of `terraform show -json`.
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

/// Options shared by `plan`, `apply` and `destroy`.
#[derive(Debug, Clone, Args)]
pub struct PlanningArgs {
    /// Plan only this address and what it owns (repeatable).
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Replace this resource even if nothing changed (repeatable).
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<String>,
    /// Read the real objects before planning.
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// How long to wait for a state lock that another command holds, such
    /// as `30s` or `5m`; replaces the state block's `lock_timeout`. Without
    /// either, a held lock fails the command at once.
    #[arg(long = "lock-timeout", value_name = "DURATION", value_parser = parse_lock_timeout)]
    pub lock_timeout: Option<Duration>,
    /// Variable inputs.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Planning options.
    #[command(flatten)]
    pub planning: PlanningArgs,
    /// Save the plan to a file for `apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON (same as `--format json`).
    #[arg(long)]
    pub json: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit with 2 when there are changes, 0 when there are none.
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Plan the destruction of every resource.
    #[arg(long)]
    pub destroy: bool,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan -out`; without one, apply plans first.
    #[arg(value_name = "PLAN")]
    pub plan_file: Option<PathBuf>,
    /// Planning options (ignored with a saved plan).
    #[command(flatten)]
    pub planning: PlanningArgs,
    /// Apply without asking for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Maximum number of concurrent operations.
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
}

/// Arguments of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Planning options.
    #[command(flatten)]
    pub planning: PlanningArgs,
    /// Destroy without asking for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Maximum number of concurrent operations.
    #[arg(long, value_name = "N")]
    pub parallelism: Option<usize>,
}

/// Arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan file; without one, the state is shown.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Output format for a plan.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// Arguments of `output`.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Show only this output.
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print a string output without quotes.
    #[arg(long)]
    pub raw: bool,
}

/// Arguments of `graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Variable inputs.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// The `state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List resource addresses in state.
    List {
        /// Show only addresses within these (for example `tenant.acme`).
        addresses: Vec<String>,
    },
    /// Show the attributes of one resource in state.
    Show {
        /// The resource address.
        address: String,
    },
    /// Remove resources from state without destroying them.
    Rm {
        /// Addresses to remove, with what they own.
        #[arg(required = true)]
        addresses: Vec<String>,
        /// How long to wait for a state lock that another command holds,
        /// such as `30s`; replaces the state block's `lock_timeout`.
        #[arg(long = "lock-timeout", value_name = "DURATION", value_parser = parse_lock_timeout)]
        lock_timeout: Option<Duration>,
    },
    /// Rename a resource in state without touching the real object.
    Mv {
        /// The current address.
        from: String,
        /// The new address.
        to: String,
        /// How long to wait for a state lock that another command holds,
        /// such as `30s`; replaces the state block's `lock_timeout`.
        #[arg(long = "lock-timeout", value_name = "DURATION", value_parser = parse_lock_timeout)]
        lock_timeout: Option<Duration>,
    },
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The address to import into; it must exist in the configuration.
    pub address: String,
    /// The provider's id of the existing object.
    pub id: String,
    /// How long to wait for a state lock that another command holds, such
    /// as `30s`; replaces the state block's `lock_timeout`.
    #[arg(long = "lock-timeout", value_name = "DURATION", value_parser = parse_lock_timeout)]
    pub lock_timeout: Option<Duration>,
    /// Variable inputs.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// Arguments of `force-unlock`.
#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id printed by the command that found the lock.
    pub id: String,
    /// Unlock without asking for confirmation.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `tenants`.
#[derive(Debug, Args)]
pub struct TenantsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Rewrites Terraform's single-dash long flags (`-out=FILE`, `-auto-approve`)
/// to the double-dash form clap parses. Short flags and values are kept.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let long_flags = long_flag_names();
    let mut rewritten = Vec::new();
    let mut after_separator = false;
    for arg in args {
        let Some(text) = arg.to_str() else {
            rewritten.push(arg);
            continue;
        };
        if text == "--" {
            after_separator = true;
        }
        let is_single_dash_long = !after_separator && text.len() > 2 && text.starts_with('-') && !text.starts_with("--");
        let name = text.trim_start_matches('-').split('=').next().unwrap_or("");
        if is_single_dash_long && long_flags.contains(name) {
            rewritten.push(OsString::from(format!("-{text}")));
        } else {
            rewritten.push(arg);
        }
    }
    rewritten
}

fn long_flag_names() -> HashSet<String> {
    fn collect(command: &clap::Command, names: &mut HashSet<String>) {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long() {
                names.insert(long.to_owned());
            }
        }
        for subcommand in command.get_subcommands() {
            collect(subcommand, names);
        }
    }
    let mut names = HashSet::new();
    collect(&Cli::command(), &mut names);
    names.insert("help".to_owned());
    names.insert("version".to_owned());
    names
}

/// Parses `-lock-timeout`: a whole number with the unit `ms`, `s`, `m` or
/// `h`, or a number of seconds.
fn parse_lock_timeout(text: &str) -> Result<Duration, String> {
    crate::state::local::parse_timeout(&Value::string(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let args = normalized(&["tenancy", "plan", "-out=plan.bin", "-detailed-exitcode", "-no-color", "-chdir=x"]);

        assert_eq!(args, ["tenancy", "plan", "--out=plan.bin", "--detailed-exitcode", "--no-color", "--chdir=x"]);
    }

    #[test]
    fn short_flags_and_values_are_kept() {
        let args = normalized(&["tenancy", "-C", "dir", "-vv", "plan", "-var", "x=-out"]);

        assert_eq!(args, ["tenancy", "-C", "dir", "-vv", "plan", "--var", "x=-out"]);
    }

    #[test]
    fn terraform_style_command_line_parses() {
        let args = normalized(&[
            "tenancy",
            "apply",
            "-auto-approve",
            "-parallelism=4",
            "-target=tenant.acme",
            "-refresh=false",
        ]);

        let cli = Cli::try_parse_from(args).unwrap();

        let Command::Apply(apply) = cli.command else {
            panic!("expected apply");
        };
        assert!(apply.auto_approve);
        assert_eq!(apply.parallelism, Some(4));
        assert_eq!(apply.planning.targets, ["tenant.acme"]);
        assert!(!apply.planning.refresh);
    }
}
