//! Encoding, hashing, type conversion and the two functions that read
//! outside the expression: `file` and `env`.

use std::io::Read;
use std::path::{Component, Path};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tenancy_sdk::Value;

use super::{FnContext, FnError, FnResult, string_arg};
use crate::lang::eval::{to_bool, to_number, to_string_form, type_label};

pub(super) fn jsonencode(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::string(args[0].to_json().to_string()))
}

pub(super) fn jsondecode(args: &[Value], _: &FnContext) -> FnResult {
    let text = string_arg(args, 0)?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => Ok(Value::from_json(&json)),
        Err(error) => Err(FnError::arg(0, format!("invalid JSON: {error}"))),
    }
}

pub(super) fn base64encode(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::string(STANDARD.encode(string_arg(args, 0)?)))
}

pub(super) fn base64decode(args: &[Value], _: &FnContext) -> FnResult {
    let bytes = STANDARD
        .decode(string_arg(args, 0)?)
        .map_err(|error| FnError::arg(0, format!("invalid base64: {error}")))?;
    String::from_utf8(bytes)
        .map(Value::string)
        .map_err(|_| FnError::arg(0, "the decoded bytes are not valid UTF-8"))
}

pub(super) fn base64sha256(args: &[Value], _: &FnContext) -> FnResult {
    let digest = Sha256::digest(string_arg(args, 0)?.as_bytes());
    Ok(Value::string(STANDARD.encode(digest)))
}

pub(super) fn sha256(args: &[Value], _: &FnContext) -> FnResult {
    let digest = Sha256::digest(string_arg(args, 0)?.as_bytes());
    Ok(Value::string(hex::encode(digest)))
}

/// Percent-encodes a string for a URL query, writing a space as `+`.
pub(super) fn urlencode(args: &[Value], _: &FnContext) -> FnResult {
    let text = string_arg(args, 0)?;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    Ok(Value::string(out))
}

pub(super) fn tostring(args: &[Value], _: &FnContext) -> FnResult {
    if args[0].is_null() {
        return Ok(Value::Null);
    }
    to_string_form(&args[0])
        .map(Value::string)
        .ok_or_else(|| FnError::arg(0, format!("cannot convert a {} to a string", type_label(&args[0]))))
}

pub(super) fn tonumber(args: &[Value], _: &FnContext) -> FnResult {
    if args[0].is_null() {
        return Ok(Value::Null);
    }
    to_number(&args[0])
        .map(Value::Number)
        .ok_or_else(|| FnError::arg(0, format!("cannot convert {} to a number", describe(&args[0]))))
}

pub(super) fn tobool(args: &[Value], _: &FnContext) -> FnResult {
    if args[0].is_null() {
        return Ok(Value::Null);
    }
    to_bool(&args[0])
        .map(Value::Bool)
        .ok_or_else(|| FnError::arg(0, format!("cannot convert {} to a bool", describe(&args[0]))))
}

fn describe(value: &Value) -> String {
    match value.unmarked() {
        Value::String(text) => format!("the string {}", serde_json::Value::String(text.to_string())),
        other => format!("a {}", type_label(other)),
    }
}

/// The largest file that `file()` reads: 4 MiB.
// NOTE: the limit applies per call, so a `for` expression that calls
// `file()` for many files can still keep hundreds of megabytes in memory.
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a UTF-8 file inside the configuration directory, by a path
/// relative to it. Paths that leave the directory, directly or through a
/// symbolic link, and hidden files are rejected, so a configuration change
/// under review cannot read files such as `/proc/self/environ` or the
/// state into a plan.
pub(super) fn file(args: &[Value], context: &FnContext) -> FnResult {
    let relative = string_arg(args, 0)?;
    let dir = context.dir;
    let fail = |reason: String| FnError::arg(0, format!("the file `{relative}` {reason} (looked in `{}`)", dir.display()));
    let outside = || {
        fail(
            "is outside the configuration directory; keep the files that configuration reads inside it \
             and name them by a relative path such as `files/banner.txt`"
                .to_owned(),
        )
    };

    let requested = Path::new(&relative);
    let escapes = requested
        .components()
        .any(|component| !matches!(component, Component::Normal(_) | Component::CurDir));
    if relative.is_empty() || escapes {
        return Err(outside());
    }
    let describe = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        std::io::ErrorKind::InvalidData => "is not valid UTF-8".to_owned(),
        _ => format!("cannot be read: {error}"),
    };
    let root = dir.canonicalize().map_err(|error| fail(describe(error)))?;
    let resolved = dir.join(requested).canonicalize().map_err(|error| fail(describe(error)))?;
    let Ok(inside) = resolved.strip_prefix(&root) else {
        return Err(outside());
    };
    // Hidden files and directories hold state (`.tenancy/`), credentials
    // (`.env`) and version control data (`.git/`), none of which belongs in
    // a plan.
    let hidden = inside
        .components()
        .any(|component| component.as_os_str().to_string_lossy().starts_with('.'));
    if hidden {
        return Err(fail(
            "is hidden or inside a hidden directory; `file()` does not read names that start with a dot, \
             such as `.tenancy/` or `.env`"
                .to_owned(),
        ));
    }
    let metadata = std::fs::metadata(&resolved).map_err(|error| fail(describe(error)))?;
    if !metadata.is_file() {
        return Err(fail("is not a regular file".to_owned()));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "is {} bytes, more than the {MAX_FILE_BYTES} bytes that `file()` reads",
            metadata.len()
        )));
    }

    // The size can grow between the check and the read, so the read stops
    // one byte past the limit.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    std::fs::File::open(&resolved)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|error| fail(describe(error)))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!("is larger than the {MAX_FILE_BYTES} bytes that `file()` reads")));
    }
    String::from_utf8(bytes)
        .map(Value::string)
        .map_err(|_| fail("is not valid UTF-8".to_owned()))
}

/// Reads an environment variable; an unset variable gives `null`.
pub(super) fn env(args: &[Value], context: &FnContext) -> FnResult {
    let name = string_arg(args, 0)?;
    let Some(environment) = context.env else {
        return Err(FnError::new("`env()` is only allowed in `variable` defaults and `provider` blocks"));
    };
    Ok(environment
        .iter()
        .find(|(key, _)| *key == name)
        .map_or(Value::Null, |(_, value)| Value::string(value.clone())))
}
