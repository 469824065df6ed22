//! Reading a configuration directory and parsing its files.
//!
//! Every `*.hcl` file of the directory is read in name order. The parser
//! stops at the first syntax error of a file, and that error becomes one
//! diagnostic. The other files are still parsed, so that their problems are
//! reported in the same run.
//!
//! The tenant blocks of a large file are left out of its syntax tree and
//! parsed later, a group at a time, while tenants are evaluated. A syntax
//! error inside one of them is then reported for its group, and the other
//! groups of the file are still evaluated.

use std::ops::Range;
use std::path::{Path, PathBuf};

use hcl_edit::Span as _;
use hcl_edit::structure::Body;

use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::source::{SourceMap, Span, floor_char_boundary};

/// A file that parsed.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    /// Index of the file in the source map.
    pub file: usize,
    /// The syntax tree, without the tenant blocks in `deferred`.
    pub body: Body,
    /// Byte ranges of the tenant blocks left out of `body`, in file order.
    /// They are parsed a group at a time when tenants are evaluated (see
    /// [`parse_tenant_group`]).
    pub deferred: Vec<Range<usize>>,
}

/// The file size from which a file's tenant blocks are left out of its
/// syntax tree. Syntax trees take about 30 bytes per byte of text, so a
/// file of 5,000 tenant blocks (1.2 MB) would otherwise keep about 36 MB of
/// tree until every tenant is evaluated.
pub(crate) const DEFER_TENANTS_BYTES: usize = 64 << 10;

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
            Ok((body, deferred)) => parsed.files.push(ParsedFile {
                file: *file,
                body,
                deferred,
            }),
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

/// The result of parsing one file: its tree and the ranges of the tenant
/// blocks left out of it.
type FileResult = Result<(Body, Vec<Range<usize>>), Diagnostic>;

/// Parses `files` of the source map, on all cores when there are several
/// files and enough text, and returns the results in the order of `files`.
/// A file of [`DEFER_TENANTS_BYTES`] or more is parsed without its tenant
/// blocks.
fn parse_files(sources: &SourceMap, files: &[usize]) -> Vec<FileResult> {
    let bytes: usize = files.iter().map(|&file| sources.files[file].text.len()).sum();
    let threads = crate::parallel::threads().min(files.len());
    if threads < 2 || bytes < PARALLEL_PARSE_BYTES {
        return files.iter().map(|&file| parse_deferring(sources, file)).collect();
    }

    // Each thread takes the next unparsed file, so one large file does not
    // leave the other threads idle behind it.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<FileResult>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let position = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&file) = files.get(position) else {
                            return done;
                        };
                        done.push((position, parse_deferring(sources, file)));
                    }
                })
            })
            .collect();
        let mut results: Vec<Option<FileResult>> = (0..files.len()).map(|_| None).collect();
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
        .map(|(result, &file)| result.take().unwrap_or_else(|| parse_deferring(sources, file)))
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

/// Parses one file of the source map and, when the file is large, leaves
/// its tenant blocks out of the tree and returns their byte ranges.
fn parse_deferring(sources: &SourceMap, file: usize) -> FileResult {
    if sources.files[file].text.len() < DEFER_TENANTS_BYTES {
        return parse_file(sources, file).map(|body| (body, Vec::new()));
    }
    parse_deferred(sources, file)
}

/// Parses one file without its tenant blocks and returns their byte
/// ranges, in file order.
///
/// A scan finds the tenant blocks, and the parser reads the file with each
/// of them turned into a block comment of the same length. When the scan
/// cannot follow the file, or that text does not parse, the file is parsed
/// whole, which reports its syntax errors, and the tenant blocks are taken
/// out of the tree.
pub(crate) fn parse_deferred(sources: &SourceMap, file: usize) -> FileResult {
    let text: &str = &sources.files[file].text;
    if let Some(ranges) = crate::lang::scan::tenant_blocks(text) {
        if let Some(body) = parse_without(text, &ranges) {
            return Ok((body, ranges));
        }
    }
    let mut body = parse_file(sources, file)?;
    let tenants = body.remove_blocks("tenant");
    let deferred = tenants.iter().filter_map(|block| block.span()).collect();
    Ok((body, deferred))
}

/// Parses `text` with each of `ranges` blanked into a block comment.
fn parse_without(text: &str, ranges: &[Range<usize>]) -> Option<Body> {
    let mut blanked = text.as_bytes().to_vec();
    for range in ranges {
        let bytes = &mut blanked[range.clone()];
        if bytes.len() < 4 {
            return None;
        }
        bytes.fill(b' ');
        let end = bytes.len();
        bytes[..2].copy_from_slice(b"/*");
        bytes[end - 2..].copy_from_slice(b"*/");
    }
    let blanked = String::from_utf8(blanked).ok()?;
    hcl_edit::parser::parse_body(&blanked).ok()
}

/// The text size of one group of deferred tenant blocks. Each group's
/// syntax tree takes about 30 times its text.
pub(crate) const TENANT_GROUP_BYTES: usize = 128 << 10;

/// The maximum number of groups of one file's tenant blocks. Each group is
/// parsed from a copy of the file up to its end, so the groups of a very
/// large file grow instead, to keep that work linear in the file's size.
const MAX_GROUPS_PER_FILE: usize = 32;

/// Splits the deferred tenant blocks of a file into groups of about
/// [`TENANT_GROUP_BYTES`] of text, or more in a very large file, in file
/// order.
pub(crate) fn tenant_groups(deferred: &[Range<usize>]) -> Vec<&[Range<usize>]> {
    let text_end = deferred.last().map_or(0, |range| range.end);
    let group_bytes = TENANT_GROUP_BYTES.max(text_end / MAX_GROUPS_PER_FILE);
    let mut groups = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (position, range) in deferred.iter().enumerate() {
        bytes += range.len();
        if bytes >= group_bytes {
            groups.push(&deferred[start..=position]);
            start = position + 1;
            bytes = 0;
        }
    }
    if start < deferred.len() {
        groups.push(&deferred[start..]);
    }
    groups
}

/// Parses a group of deferred tenant blocks of a file.
///
/// The parser reads a copy of the file's text up to the group's end in
/// which every byte outside the group's blocks is blank (see
/// [`blank_outside`]). Offsets in the tree are therefore offsets in the
/// file, as the diagnostics need, and the tree has the group's blocks
/// alone.
pub(crate) fn parse_tenant_group(sources: &SourceMap, file: usize, group: &[Range<usize>]) -> Result<Body, Diagnostic> {
    let text: &str = &sources.files[file].text;
    // Each range starts and ends at a character boundary of the text, and
    // every other byte is ASCII.
    let padded = String::from_utf8(blank_outside(text, group)).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        Diagnostic::error("tenancy::syntax::invalid", "Invalid syntax")
            .with_label(Span::new(file, offset..offset), "a tenant block could not be read again here")
    })?;

    hcl_edit::parser::parse_body(&padded).map_err(|error| {
        let diagnostic = syntax_diagnostic(file, text, &error);
        if diagnostic.code == "tenancy::syntax::invalid" {
            diagnostic.with_help(
                "Fix the syntax at this position. The tenant blocks around it are checked once it parses; \
                 the rest of the file was checked in this run.",
            )
        } else {
            diagnostic
        }
    })
}

/// Returns a copy of `text` up to the end of the last of `ranges`, with
/// every byte outside them blank: a space, or a line break where the text
/// has one between two ranges.
fn blank_outside(text: &str, ranges: &[Range<usize>]) -> Vec<u8> {
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return Vec::new();
    };
    let bytes = text.as_bytes();
    let mut padded = vec![b' '; last.end];

    // One block comment covers the text before the first range. The parser
    // finds its end in one search, where it reads spaces one at a time, and
    // the groups at the end of a large file start far into it.
    if first.start >= 5 {
        padded[..2].copy_from_slice(b"/*");
        padded[first.start - 3..first.start - 1].copy_from_slice(b"*/");
        padded[first.start - 1] = b'\n';
    }
    for (range, next) in ranges.iter().zip(ranges.iter().skip(1)) {
        for position in range.end..next.start {
            if bytes[position] == b'\n' {
                padded[position] = b'\n';
            }
        }
    }
    for range in ranges {
        padded[range.clone()].copy_from_slice(&bytes[range.clone()]);
    }
    padded
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
    fn tenant_groups_cover_blocks_in_order() {
        let blocks = |count: usize, size: usize| -> Vec<Range<usize>> {
            (0..count).map(|index| index * (size + 2)..index * (size + 2) + size).collect()
        };
        for (count, size, most_groups) in [(0, 200, 0), (10, 200, 1), (2_000, 200, 4), (100_000, 1_000, 33)] {
            let deferred = blocks(count, size);

            let groups = tenant_groups(&deferred);

            assert!(groups.len() <= most_groups, "{count} blocks made {} groups", groups.len());
            assert!(groups.iter().all(|group| !group.is_empty()));
            assert_eq!(groups.concat(), deferred);
        }
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
