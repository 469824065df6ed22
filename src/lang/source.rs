//! Source files of a configuration and byte spans into them.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// A byte range in one file of a [`SourceMap`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// Index of the file in the source map.
    pub file: usize,
    /// Byte range in the file's text.
    pub range: Range<usize>,
}

/// One configuration file as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as shown in diagnostics, relative to the working directory when
    /// possible.
    pub path: PathBuf,
    /// The file's text.
    pub text: Arc<str>,
}

/// Every file of one configuration, in the order read.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    /// The files, indexed by [`Span::file`].
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its index.
    pub fn add(&mut self, path: PathBuf, text: impl Into<Arc<str>>) -> usize {
        self.files.push(SourceFile {
            path,
            text: text.into(),
        });
        self.files.len() - 1
    }

    /// Returns the file a span points into.
    pub fn file(&self, span: &Span) -> Option<&SourceFile> {
        self.files.get(span.file)
    }
}

impl Span {
    /// Returns a span over `range` in file `file`.
    pub fn new(file: usize, range: Range<usize>) -> Span {
        Span { file, range }
    }
}

impl SourceFile {
    /// Returns the one-based line and the one-based column of a byte offset,
    /// counting columns in characters so that non-ASCII text lines up.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }
}

impl SourceMap {
    /// Returns the `path:line:column` location of a span's start.
    pub fn location(&self, span: &Span) -> Option<String> {
        let file = self.file(span)?;
        let (line, column) = file.line_column(span.range.start);
        Some(format!("{}:{line}:{column}", file.path.display()))
    }
}

/// Moves `offset` down to the nearest character boundary inside `text`.
pub(crate) fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A file's text as `miette` source code, with columns counted in characters.
///
/// `miette` 7 counts the column of a report's `path:line:column` header in
/// bytes, which puts it past the real position on lines with non-ASCII text.
/// This wrapper recomputes that column from the characters before the span.
#[derive(Debug)]
pub(crate) struct CharColumnSource {
    name: String,
    text: Arc<str>,
}

impl CharColumnSource {
    /// Wraps a file of the source map.
    pub(crate) fn new(file: &SourceFile) -> CharColumnSource {
        CharColumnSource {
            name: file.path.display().to_string(),
            text: file.text.clone(),
        }
    }
}

impl miette::SourceCode for CharColumnSource {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text: &str = &self.text;
        let contents = text.read_span(span, context_lines_before, context_lines_after)?;
        let mut column = contents.column();
        if context_lines_before == 0 {
            let start = floor_char_boundary(text, span.offset());
            let line_start = text[..start].rfind('\n').map_or(0, |index| index + 1);
            column = text[line_start..start].chars().count();
        }
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            column,
            contents.line_count(),
        )))
    }
}
