//! Canonical formatting of configuration files, for `tenancy fmt`.
//!
//! The formatter works line by line over text that parses, so that comments
//! and the author's line breaks stay where they are. It applies these rules:
//!
//! - two spaces of indentation per nesting level, where a line that opens
//!   brackets indents the lines after it by one level however many brackets
//!   it opens, and a line that starts with closing brackets is outdented;
//! - `key = value` with one space on each side of `=`;
//! - the `=` of consecutive single-line attributes at the same level
//!   aligned, as `terraform fmt` does, where a blank line, a comment line, a
//!   block or a multi-line attribute ends such a run;
//! - one space between a block header and its `{`;
//! - no trailing whitespace, at most one blank line in a row, no blank lines
//!   at the start or end, and one newline at the end;
//! - heredoc bodies and the inside of `/* */` comments are kept as written.
//!
//! Formatting is idempotent: formatting formatted text changes nothing.

use std::path::{Path, PathBuf};

use crate::lang::diagnostic::Diagnostics;
use crate::lang::loader::{self, list_hcl_files};
use crate::lang::source::SourceMap;

/// The result of formatting one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatResult {
    /// The file's path: the directory given joined with the file name.
    pub path: PathBuf,
    /// The text before formatting.
    pub original: String,
    /// The text after formatting.
    pub formatted: String,
    /// Whether formatting changed the text.
    pub changed: bool,
}

/// A failure to format a directory.
#[derive(Debug, thiserror::Error)]
pub enum FormatFailure {
    /// Some files do not parse; nothing was written.
    #[error("the configuration has syntax errors")]
    Diagnostics(SourceMap, Diagnostics),
    /// The directory or a file could not be read.
    #[error("failed to read `{path}`: {source}")]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A formatted file could not be written.
    #[error("failed to write `{path}`: {source}")]
    Write {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Formats one file's text in the canonical style.
///
/// # Errors
///
/// Returns the syntax error when the text does not parse; the diagnostic's
/// spans point into a source map holding the text as file 0.
pub fn format_source(text: &str) -> Result<String, Diagnostics> {
    let mut sources = SourceMap::default();
    let file = sources.add("main.hcl".into(), text);
    loader::parse_file(&sources, file).map_err(Diagnostics::from)?;
    Ok(format_parsed(text))
}

/// Formats every `*.hcl` file of `dir`. Unless `check` is true, files that
/// change are rewritten in place.
///
/// # Errors
///
/// Returns every syntax error of the directory (writing nothing), or the
/// first read or write error.
pub fn format_dir(dir: &Path, check: bool) -> Result<Vec<FormatResult>, FormatFailure> {
    let names = list_hcl_files(dir).map_err(|source| FormatFailure::Read { path: dir.to_path_buf(), source })?;
    let mut sources = SourceMap::default();
    let mut diagnostics = Diagnostics::new();
    let mut results = Vec::new();
    for name in names {
        let path = display_path(dir, &name);
        let full = dir.join(&name);
        let original = std::fs::read_to_string(&full).map_err(|source| FormatFailure::Read { path: full.clone(), source })?;
        let file = sources.add(path.clone(), original.as_str());
        if let Err(diagnostic) = loader::parse_file(&sources, file) {
            diagnostics.push(diagnostic);
            continue;
        }
        let formatted = format_parsed(&original);
        let changed = formatted != original;
        results.push((full, FormatResult { path, original, formatted, changed }));
    }
    if diagnostics.has_errors() {
        return Err(FormatFailure::Diagnostics(sources, diagnostics));
    }
    if !check {
        for (full, result) in results.iter().filter(|(_, result)| result.changed) {
            write_atomically(full, &result.formatted)?;
        }
    }
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

fn display_path(dir: &Path, name: &Path) -> PathBuf {
    if dir == Path::new(".") || dir.as_os_str().is_empty() {
        name.to_path_buf()
    } else {
        dir.join(name)
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), FormatFailure> {
    let failed = |source| FormatFailure::Write { path: path.to_path_buf(), source };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".fmt-tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}

/// Formats text that is known to parse.
fn format_parsed(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n");
    let lines = layout(&normalized);
    let aligned = align(lines);
    let joined = collapse_blank_lines(&aligned);

    // NOTE: the rules above kept the syntax valid for every input tested so
    // far. If they ever break it, the original text is kept, so that `fmt`
    // never writes a file that no longer parses.
    if hcl_edit::parser::parse_body(&joined).is_err() {
        return text.to_owned();
    }
    joined
}

/// One output line before alignment.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    /// Indentation level, or `None` for a line kept exactly as written.
    indent: Option<usize>,
    /// The content without indentation.
    content: String,
    /// For `key = value` lines that fit on one line: the key's width in
    /// characters, the indentation level, and the key's length in bytes.
    key: Option<(usize, usize, usize)>,
}

/// The construct the scanner is inside, between two characters.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Context {
    /// Inside `{`, `[` or `(`.
    Bracket,
    /// Inside a quoted string.
    Quoted,
    /// Inside `${ … }` or `%{ … }` in a string.
    Interpolation,
}

#[derive(Default)]
struct Scanner {
    stack: Vec<Context>,
    block_comment: bool,
    heredoc: Option<String>,
    levels: Vec<usize>,
}

/// The brackets, heredoc start and comment found on one line.
#[derive(Default)]
struct LineScan {
    /// `true` for an opening bracket, `false` for a closing one, in order.
    brackets: Vec<bool>,
    /// The delimiter of a heredoc that starts at the end of the line.
    heredoc: Option<String>,
    /// Byte offset where a `#` or `//` comment starts.
    comment: Option<usize>,
}

fn layout(text: &str) -> Vec<Line> {
    let mut scanner = Scanner::default();
    let mut lines = Vec::new();
    for raw in text.split('\n') {
        lines.push(scanner.line(raw));
    }
    if text.ends_with('\n') {
        lines.pop();
    }
    lines
}

impl Scanner {
    fn line(&mut self, raw: &str) -> Line {
        let verbatim = |content: &str| Line { indent: None, content: content.to_owned(), key: None };
        if let Some(delimiter) = &self.heredoc {
            if raw.trim() == delimiter {
                self.heredoc = None;
            }
            return verbatim(raw);
        }
        if self.block_comment || self.stack.last() == Some(&Context::Quoted) {
            self.scan(raw);
            return verbatim(raw.trim_end_matches([' ', '\t']));
        }
        let content = raw.trim();
        let in_body = matches!(self.stack.last(), None | Some(Context::Bracket));
        let depth_before = self.stack.len();
        let mut scan = self.scan(content);
        let indent = self.indent_for(&scan.brackets, content);
        let single_line = self.stack.len() == depth_before && scan.heredoc.is_none() && !self.block_comment;
        self.heredoc = scan.heredoc.take();
        let (content, key) = match in_body.then(|| split_attribute(content)).flatten() {
            Some((key, value)) => {
                let key_width = key.chars().count();
                (format!("{key} = {value}"), single_line.then_some((key_width, indent, key.len())))
            }
            None => (space_before_brace(content, scan.comment), None),
        };
        Line { indent: Some(indent), content, key }
    }

    /// Returns the line's indentation level and updates the level stack.
    fn indent_for(&mut self, brackets: &[bool], content: &str) -> usize {
        let leading_closes = content
            .chars()
            .take_while(|ch| matches!(ch, '}' | ']' | ')' | ' ' | '\t'))
            .filter(|ch| matches!(ch, '}' | ']' | ')'))
            .count()
            .min(brackets.iter().take_while(|open| !**open).count());
        let depth_before = self.levels.len();
        for _ in 0..leading_closes {
            self.close_level();
        }
        let indent = self.levels.len();

        // A line such as `}, {` that closes part of a level and opens again
        // refills that level instead of starting a deeper one.
        let mut own_level = (leading_closes > 0 && indent == depth_before).then(|| indent.saturating_sub(1));
        for &open in &brackets[leading_closes..] {
            if open {
                let top = self.levels.len().checked_sub(1);
                match self.levels.last_mut() {
                    Some(count) if own_level.is_some() && own_level == top => *count += 1,
                    _ => {
                        self.levels.push(1);
                        own_level = Some(self.levels.len() - 1);
                    }
                }
            } else {
                self.close_level();
                if own_level.is_some_and(|level| level >= self.levels.len()) {
                    own_level = None;
                }
            }
        }
        indent
    }

    fn close_level(&mut self) {
        if let Some(count) = self.levels.last_mut() {
            *count -= 1;
            if *count == 0 {
                self.levels.pop();
            }
        }
    }

    /// Scans one line's characters, updating the context stack.
    fn scan(&mut self, line: &str) -> LineScan {
        let mut scan = LineScan::default();
        let indexed: Vec<(usize, char)> = line.char_indices().collect();
        let chars: Vec<char> = indexed.iter().map(|(_, ch)| *ch).collect();
        let mut index = 0;
        while index < chars.len() {
            let ch = chars[index];
            let next = chars.get(index + 1).copied();
            if self.block_comment {
                if ch == '*' && next == Some('/') {
                    self.block_comment = false;
                    index += 1;
                }
                index += 1;
                continue;
            }
            match self.stack.last() {
                Some(Context::Quoted) => index += self.scan_quoted(ch, next),
                _ => {
                    if ch == '#' || (ch == '/' && next == Some('/')) {
                        scan.comment = Some(indexed[index].0);
                        break;
                    }
                    if ch == '<' && next == Some('<') {
                        if let Some(delimiter) = heredoc_delimiter(&chars[index + 2..]) {
                            scan.heredoc = Some(delimiter);
                            break;
                        }
                    }
                    index += self.scan_code(ch, next, &mut scan);
                }
            }
        }
        scan
    }

    fn scan_quoted(&mut self, ch: char, next: Option<char>) -> usize {
        match (ch, next) {
            ('\\', Some(_)) => 2,
            ('$', Some('$')) | ('%', Some('%')) => 2,
            ('$', Some('{')) | ('%', Some('{')) => {
                self.stack.push(Context::Interpolation);
                2
            }
            ('"', _) => {
                self.stack.pop();
                1
            }
            _ => 1,
        }
    }

    fn scan_code(&mut self, ch: char, next: Option<char>, scan: &mut LineScan) -> usize {
        match ch {
            '"' => self.stack.push(Context::Quoted),
            '/' if next == Some('*') => {
                self.block_comment = true;
                return 2;
            }
            '{' | '[' | '(' => {
                self.stack.push(Context::Bracket);
                scan.brackets.push(true);
            }
            '}' if self.stack.last() == Some(&Context::Interpolation) => {
                self.stack.pop();
            }
            '}' | ']' | ')' => {
                self.stack.pop();
                scan.brackets.push(false);
            }
            _ => {}
        }
        1
    }
}

/// Returns the heredoc delimiter when the rest of a line after `<<` is
/// `ID` or `-ID` and nothing else.
fn heredoc_delimiter(rest: &[char]) -> Option<String> {
    let rest: String = rest.iter().collect();
    let rest = rest.trim_end();
    let name = rest.strip_prefix('-').unwrap_or(rest);
    let valid = !name.is_empty()
        && name.chars().next().is_some_and(|ch| ch.is_alphabetic() || ch == '_')
        && name.chars().all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '-');
    valid.then(|| name.to_owned())
}

/// Splits `key = value` into key and value when the line starts with an
/// attribute or object item whose key is a name or a quoted string.
fn split_attribute(content: &str) -> Option<(&str, &str)> {
    let key_end = if content.starts_with('"') {
        quoted_end(content)?
    } else {
        let first = content.chars().next()?;
        if !(first.is_alphabetic() || first == '_') {
            return None;
        }
        content
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '-'))
            .unwrap_or(content.len())
    };
    let key = &content[..key_end];
    let rest = content[key_end..].trim_start();
    let value = rest.strip_prefix('=')?;
    if value.starts_with(['=', '>']) {
        return None;
    }
    Some((key, value.trim_start()))
}

/// Returns the byte offset just past the closing quote of a string that
/// starts at offset 0.
fn quoted_end(content: &str) -> Option<usize> {
    let mut escaped = false;
    for (offset, ch) in content.char_indices().skip(1) {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(offset + 1),
            '$' | '%' if content[offset + 1..].starts_with('{') => return None,
            _ => {}
        }
    }
    None
}

/// Puts one space between a block header and its opening brace, looking
/// at the code before a trailing comment.
fn space_before_brace(content: &str, comment: Option<usize>) -> String {
    let code_end = comment.unwrap_or(content.len());
    let code = content[..code_end].trim_end();
    let rest = &content[code.len()..];
    match code.strip_suffix('{') {
        Some(head) if head.ends_with(|ch: char| ch == '"' || ch.is_alphanumeric() || ch == '_') => {
            format!("{head} {{{rest}")
        }
        _ => content.to_owned(),
    }
}

/// Pads keys so that the `=` of each run of single-line attributes lines up,
/// and returns each line's text with whether it is kept as written.
fn align(mut lines: Vec<Line>) -> Vec<(String, bool)> {
    let mut start = 0;
    while start < lines.len() {
        let Some((_, indent, _)) = lines[start].key else {
            start += 1;
            continue;
        };
        let mut end = start;
        while end < lines.len() && lines[end].key.is_some_and(|(_, level, _)| level == indent) {
            end += 1;
        }
        let width = lines[start..end].iter().filter_map(|line| line.key).map(|(key, _, _)| key).max().unwrap_or(0);
        for line in &mut lines[start..end] {
            if let Some((key_width, _, key_bytes)) = line.key {
                let padding = " ".repeat(width - key_width);
                line.content.insert_str(key_bytes, &padding);
            }
        }
        start = end;
    }
    lines
        .into_iter()
        .map(|line| match line.indent {
            Some(_) if line.content.is_empty() => (String::new(), false),
            Some(level) => (format!("{}{}", "  ".repeat(level), line.content), false),
            None => (line.content, true),
        })
        .collect()
}

fn collapse_blank_lines(lines: &[(String, bool)]) -> String {
    let mut out = String::new();
    let mut pending_blank = false;
    for (line, verbatim) in lines {
        if line.is_empty() && !verbatim {
            pending_blank = !out.is_empty();
            continue;
        }
        if pending_blank {
            out.push('\n');
            pending_blank = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
