//! Reading a configuration directory and parsing its files.
//!
//! Every `*.hcl` file of the directory is read in name order. The parser
//! stops at the first syntax error of a file, and that error becomes one
//! diagnostic. The other files are still parsed, so that their problems are
//! reported in the same run.

use std::path::{Path, PathBuf};

use hcl_edit::structure::Body;

use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::source::{SourceMap, Span, floor_char_boundary};

/// A file that parsed.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    /// Index of the file in the source map.
    pub file: usize,
    /// The syntax tree.
    pub body: Body,
}

/// The files of a configuration directory, read and parsed.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Every file read, including the ones that failed to parse.
    pub sources: SourceMap,
    /// The files that parsed.
    pub files: Vec<ParsedFile>,
    /// Read and syntax errors.
    pub diagnostics: Diagnostics,
    /// Whether some file failed to read or parse.
    pub incomplete: bool,
}

/// Reads and parses every `*.hcl` file of `dir`, and hands the texts to
/// `observe` once they are read, before they are parsed.
pub(crate) fn read_dir(dir: &Path, observe: impl FnOnce(&SourceMap)) -> Parsed {
    let mut parsed = Parsed::default();
    let paths = match list_hcl_files(dir) {
        Ok(paths) => paths,
        Err(error) => {
            parsed.diagnostics.push(
                Diagnostic::error("tenancy::config::read_failed", "Configuration directory not readable")
                    .with_help(format!("Failed to read the directory `{}`: {error}.", dir.display())),
            );
            parsed.incomplete = true;
            return parsed;
        }
    };
    if paths.is_empty() {
        parsed.diagnostics.push(
            Diagnostic::error("tenancy::config::no_files", "No configuration files")
                .with_help(format!(
                    "The directory `{}` has no `*.hcl` files. Pass the directory that holds the configuration.",
                    dir.display()
                )),
        );
        return parsed;
    }
    let mut readable = Vec::with_capacity(paths.len());
    for name in paths {
        let path = dir.join(&name);
        match std::fs::read(&path) {
            Ok(bytes) => readable.extend(add_source(&mut parsed, name, bytes)),
            Err(error) => {
                parsed.incomplete = true;
                parsed.diagnostics.push(
                    Diagnostic::error("tenancy::config::read_failed", "Configuration file not readable")
                        .with_help(format!("Failed to read `{}`: {error}.", path.display())),
                );
            }
        }
    }
    observe(&parsed.sources);
    for (file, result) in readable.iter().zip(parse_files(&parsed.sources, &readable)) {
        match result {
            Ok(body) => parsed.files.push(ParsedFile { file: *file, body }),
            Err(diagnostic) => {
                parsed.incomplete = true;
                parsed.diagnostics.push(diagnostic);
            }
        }
    }
    parsed
}

/// The configuration size from which files are parsed on several threads.
const PARALLEL_PARSE_BYTES: usize = 64 * 1024;

/// Parses `files` of the source map, on all cores when there are several
/// files and enough text, and returns the results in the order of `files`.
fn parse_files(sources: &SourceMap, files: &[usize]) -> Vec<Result<Body, Diagnostic>> {
    let bytes: usize = files.iter().map(|&file| sources.files[file].text.len()).sum();
    let threads = crate::parallel::threads().min(files.len());
    if threads < 2 || bytes < PARALLEL_PARSE_BYTES {
        return files.iter().map(|&file| parse_file(sources, file)).collect();
    }

    // Each thread takes the next unparsed file, so one large file does not
    // leave the other threads idle behind it.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Body, Diagnostic>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let position = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&file) = files.get(position) else {
                            return done;
                        };
                        done.push((position, parse_file(sources, file)));
                    }
                })
            })
            .collect();
        let mut results: Vec<Option<Result<Body, Diagnostic>>> = (0..files.len()).map(|_| None).collect();
        for worker in workers {
            let done = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (position, result) in done {
                results[position] = Some(result);
            }
        }
        results
    });
    results
        .iter_mut()
        .zip(files)
        .map(|(result, &file)| result.take().unwrap_or_else(|| parse_file(sources, file)))
        .collect()
}

/// Returns the names of the `*.hcl` files of `dir`, sorted.
pub(crate) fn list_hcl_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = PathBuf::from(entry.file_name());
        let is_hcl = name.extension().is_some_and(|extension| extension == "hcl");
        if is_hcl && entry.file_type()?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Adds a file's text to the source map and returns its index, or reports
/// it and returns `None` when it is not UTF-8.
fn add_source(parsed: &mut Parsed, name: PathBuf, bytes: Vec<u8>) -> Option<usize> {
    match String::from_utf8(bytes) {
        Ok(text) => Some(parsed.sources.add(name, text)),
        Err(error) => {
            let valid_up_to = error.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let end = floor_char_boundary(&text, valid_up_to + 1).max(valid_up_to);
            let file = parsed.sources.add(name, text);
            parsed.incomplete = true;
            parsed.diagnostics.push(
                Diagnostic::error("tenancy::syntax::invalid_utf8", "File is not valid UTF-8")
                    .with_label(Span::new(file, valid_up_to..end), format!("invalid byte at offset {valid_up_to}"))
                    .with_help("Save the file as UTF-8 text; configuration files cannot hold binary data."),
            );
            None
        }
    }
}

/// Parses one file of the source map.
pub(crate) fn parse_file(sources: &SourceMap, file: usize) -> Result<Body, Diagnostic> {
    let text: &str = &sources.files[file].text;
    hcl_edit::parser::parse_body(text).map_err(|error| syntax_diagnostic(file, text, &error))
}

/// Turns a parser error into a diagnostic at the error's position.
pub(crate) fn syntax_diagnostic(file: usize, text: &str, error: &hcl_edit::parser::Error) -> Diagnostic {
    let offset = floor_char_boundary(text, error.location().offset());
    let span = error_span(text, offset);
    let message = error.message();
    if message.contains("redefined attribute") {
        let name = identifier_at(text, offset);
        return Diagnostic::error("tenancy::config::duplicate_attribute", "Duplicate attribute")
            .with_label(Span::new(file, span), format!("`{name}` is already set in this block"))
            .with_help("Remove one of the two definitions.");
    }
    if message.contains("redefined object key") {
        return Diagnostic::error("tenancy::syntax::duplicate_key", "Duplicate object key")
            .with_label(Span::new(file, span), "this key is already set in the object")
            .with_help("Remove one of the two keys.");
    }
    Diagnostic::error("tenancy::syntax::invalid", "Invalid syntax")
        .with_label(Span::new(file, span), message.to_owned())
        .with_help("Fix the syntax at this position; the rest of this file is not checked until it parses.")
}

/// Returns the range of the character at `offset`, or of the last character
/// when the error is at the end of the file.
fn error_span(text: &str, offset: usize) -> std::ops::Range<usize> {
    if let Some(ch) = text[offset..].chars().next() {
        return offset..offset + ch.len_utf8();
    }
    match text.char_indices().last() {
        Some((start, ch)) => start..start + ch.len_utf8(),
        None => 0..0,
    }
}

fn identifier_at(text: &str, offset: usize) -> &str {
    let rest = &text[offset..];
    let end = rest
        .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '-'))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(text: &str) -> SourceMap {
        let mut sources = SourceMap::default();
        sources.add("main.hcl".into(), text);
        sources
    }

    #[test]
    fn parallel_parse_keeps_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let block = |index: usize| format!("tier \"t{index}\" {{\n  price = {index}\n}}\n");
        for name in ["a", "b", "c", "d"] {
            let text: String = (0..1500).map(block).collect();
            std::fs::write(dir.path().join(format!("{name}.hcl")), text).unwrap();
        }
        std::fs::write(dir.path().join("c.hcl"), "tier \"broken\" {\n  price = \n}\n").unwrap();

        let parsed = read_dir(dir.path(), |_| {});

        let names: Vec<String> = parsed
            .files
            .iter()
            .map(|parsed_file| parsed.sources.files[parsed_file.file].path.display().to_string())
            .collect();
        assert_eq!(names, ["a.hcl", "b.hcl", "d.hcl"]);
        assert!(parsed.incomplete);
        assert_eq!(parsed.diagnostics.len(), 1);
        let error = parsed.diagnostics.iter().next().unwrap();
        assert_eq!(parsed.sources.files[error.labels[0].span.file].path.display().to_string(), "c.hcl");
        assert_eq!(parsed.files[2].body.blocks().count(), 1500);
    }

    #[test]
    fn syntax_error_points_at_position() {
        let sources = sources("tier \"pro\" {\n  price = \n}\n");
        let diagnostic = parse_file(&sources, 0).unwrap_err();
        assert_eq!(diagnostic.code, "tenancy::syntax::invalid");
        let location = sources.location(diagnostic.primary_span().unwrap()).unwrap();
        assert!(location.starts_with("main.hcl:"), "{location}");
    }

    #[test]
    fn duplicate_attribute_is_named() {
        let sources = sources("tier \"pro\" {\n  price = 1\n  price = 2\n}\n");
        let diagnostic = parse_file(&sources, 0).unwrap_err();
        assert_eq!(diagnostic.code, "tenancy::config::duplicate_attribute");
        assert!(diagnostic.labels[0].text.contains("`price`"), "{:?}", diagnostic.labels);
    }

    #[test]
    fn crlf_file_parses() {
        let sources = sources("tier \"pro\" {\r\n  price = 1\r\n}\r\n");
        assert!(parse_file(&sources, 0).is_ok());
    }

    #[test]
    fn error_at_end_of_file_has_a_span() {
        assert_eq!(error_span("abc", 3), 2..3);
        assert_eq!(error_span("", 0), 0..0);
    }
}
