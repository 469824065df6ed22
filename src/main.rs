//! The `tenancy` command.

fn main() -> std::process::ExitCode {
    tenancy::cli::main(std::env::args_os())
}
