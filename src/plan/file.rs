//! Saved plan files (`plan -out FILE`), apart from the plan model.
//!
//! A plan file is JSON with a format version. It holds planned values,
//! including sensitive ones, so it is written readable by its owner only.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::model::Plan;

/// The plan file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Failure to read or write a plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be read or written.
    #[error("failed to {action} plan file `{path}`: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a plan file of this format.
    #[error("`{path}` is not a valid tenancy plan file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
}

#[derive(Deserialize)]
struct PlanFile {
    // Both are read only so that a file without them is rejected.
    #[allow(dead_code)]
    format_version: u32,
    #[allow(dead_code)]
    tenancy_version: String,
    plan: Plan,
}

/// The document of [`PlanFile`], borrowing the plan it writes.
#[derive(Serialize)]
struct PlanFileRef<'a> {
    format_version: u32,
    tenancy_version: &'a str,
    plan: &'a Plan,
}

#[derive(Deserialize)]
struct VersionProbe {
    format_version: Option<u32>,
}

/// Writes a plan file, readable by its owner only.
pub fn save(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    let io_error = |source| PlanFileError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let document = PlanFileRef {
        format_version: FORMAT_VERSION,
        tenancy_version: env!("CARGO_PKG_VERSION"),
        plan,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(io_error)?;
    // The mode above applies only to a new file, and an older file may be
    // readable by others. Devices such as /dev/null keep their mode.
    #[cfg(unix)]
    if file.metadata().map_err(io_error)?.is_file() {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(io_error)?;
    }
    // The document goes straight into the file, because at 100,000
    // resources it is about 60 MB, and a copy of the plan cost more again.
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    serde_json::to_writer(&mut writer, &document).map_err(|error| io_error(std::io::Error::from(error)))?;
    let file = writer.into_inner().map_err(|error| io_error(error.into_error()))?;
    file.sync_all().map_err(io_error)
}

/// Reads a plan file.
pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
    let bytes = fs::read(path).map_err(|source| PlanFileError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| PlanFileError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let probe: VersionProbe = serde_json::from_slice(&bytes).map_err(|error| invalid(format!("not JSON ({error})")))?;
    match probe.format_version {
        Some(FORMAT_VERSION) => {}
        Some(version) => {
            return Err(invalid(format!(
                "format version {version} is not supported by this tenancy (it reads version {FORMAT_VERSION}); make the plan again with this version"
            )));
        }
        None => return Err(invalid("it has no `format_version`".to_owned())),
    }
    let document: PlanFile = serde_json::from_slice(&bytes).map_err(|error| invalid(error.to_string()))?;
    Ok(document.plan)
}
