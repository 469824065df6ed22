//! The configuration language: loading, evaluation and checks.
//!
//! [`load`] reads every `*.hcl` file of a directory, decodes the blocks
//! against their schemas, evaluates expressions with unknown and sensitive
//! marks, and returns a [`Config`] or every problem found as
//! [`Diagnostics`]. [`evaluate_outputs`] and [`evaluate_policy_rules`] run
//! the expressions that need tenant values, and [`format_source`] and
//! [`format_dir`] implement `tenancy fmt`.

mod blocks;
mod build;
pub(crate) mod catalog;
pub(crate) mod decode;
pub mod diagnostic;
pub(crate) mod eval;
mod format;
pub(crate) mod functions;
pub(crate) mod loader;
mod locals;
mod rules;
mod scan;
pub(crate) mod schema;
pub mod source;
pub(crate) mod suggest;
mod tenants;
pub(crate) mod types;
mod variables;

use std::fmt;
use std::path::Path;

use crate::config::Config;

pub use diagnostic::{Diagnostic, Diagnostics, Label, RenderOptions, Severity};
pub use format::{FormatFailure, FormatResult, format_dir, format_source};
pub use rules::{evaluate_outputs, evaluate_policy_rules, tenants_value};
pub use source::SourceMap;
pub use variables::{ENV_PREFIX, VarInputs};

/// Why a configuration did not load: the files read and every error found,
/// with the warnings.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    /// The files read, for rendering the diagnostics.
    pub sources: SourceMap,
    /// Every problem found; at least one is an error.
    pub diagnostics: Diagnostics,
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.diagnostics.errors().count();
        let noun = if count == 1 { "error" } else { "errors" };
        write!(formatter, "the configuration has {count} {noun}")
    }
}

impl std::error::Error for LoadFailure {}

/// Loads, evaluates and checks the configuration in `dir`.
///
/// # Errors
///
/// Returns every error found, together with the warnings and the files read.
pub fn load(dir: &Path, inputs: &VarInputs) -> Result<Config, LoadFailure> {
    load_observing(dir, inputs, |_| {}, || {})
}

/// Loads like [`load`], and hands the file texts to `observe` as soon as
/// they are read, so a caller can start work that needs only the texts
/// while they are parsed and evaluated. `parsed` runs once every file is
/// parsed, before the blocks are evaluated.
pub fn load_observing(
    dir: &Path,
    inputs: &VarInputs,
    observe: impl FnOnce(&SourceMap),
    parsed: impl FnOnce(),
) -> Result<Config, LoadFailure> {
    let files = loader::read_dir(dir, observe);
    parsed();
    build::build(dir, inputs, files)
}

/// Parses and checks one file's text as a whole configuration, with no
/// variable inputs, and returns every diagnostic. `file()` calls fail
/// because the text has no directory. Used by the fuzzer and by editors.
pub fn check_source(text: &str) -> Diagnostics {
    let mut parsed = loader::Parsed::default();
    let file = parsed.sources.add("main.hcl".into(), text);
    match loader::parse_file(&parsed.sources, file) {
        Ok(body) => parsed.files.push(loader::ParsedFile {
            file,
            body,
            deferred: Vec::new(),
        }),
        Err(diagnostic) => {
            parsed.incomplete = true;
            parsed.diagnostics.push(diagnostic);
        }
    }
    let nowhere = Path::new("/nonexistent/tenancy-check-source");
    match build::build(nowhere, &VarInputs::default(), parsed) {
        Ok(config) => config.warnings,
        Err(failure) => failure.diagnostics,
    }
}
