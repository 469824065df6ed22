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
