//! Diagnostics: problems found in a configuration, with the spans that caused
//! them, rendered as `miette` reports.
//!
//! A [`Diagnostic`] has a stable code (`tenancy::config::unknown_attribute`),
//! a fixed summary that never contains user values, labels that point at
//! spans of a [`SourceMap`], and an optional help sentence with the fix. Every
//! pipeline step collects its problems into [`Diagnostics`] so that a run
//! reports all of them together.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};

use crate::lang::source::{CharColumnSource, SourceMap, Span, floor_char_boundary};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The run cannot go on.
    Error,
    /// The run goes on, but the user should look.
    Warning,
}

/// A text attached to a span of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where the label points.
    pub span: Span,
    /// The text shown under the span.
    pub text: String,
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, such as `tenancy::config::unknown_attribute`.
    pub code: String,
    /// Fixed summary without user values, such as "Unknown attribute".
    pub summary: String,
    /// Labels on spans; the first one is the primary location.
    pub labels: Vec<Label>,
    /// A sentence that says how to fix the problem.
    pub help: Option<String>,
}

impl Diagnostic {
    /// Creates an error with a stable code and a fixed summary.
    pub fn error(code: impl Into<String>, summary: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, summary)
    }

    /// Creates a warning with a stable code and a fixed summary.
    pub fn warning(code: impl Into<String>, summary: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, summary)
    }

    fn new(severity: Severity, code: impl Into<String>, summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code: code.into(),
            summary: summary.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    /// Adds a label on a span.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds a label when a span is known, and does nothing otherwise.
    pub fn with_optional_label(self, span: Option<Span>, text: impl Into<String>) -> Diagnostic {
        match span {
            Some(span) => self.with_label(span, text),
            None => self,
        }
    }

    /// Sets the help sentence.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Returns true for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Returns the primary span: the span of the first label.
    pub fn primary_span(&self) -> Option<&Span> {
        self.labels.first().map(|label| &label.span)
    }

    /// Renders this diagnostic as a `miette` report.
    pub fn render(&self, sources: &SourceMap, options: RenderOptions) -> String {
        let theme = if options.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(options.width)
            .with_links(false);
        let report = Report::build(self, sources);
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            // NOTE: miette fails only when a span lies outside its file; the
            // plain form still tells the user what is wrong.
            out = self.render_plain(sources);
        }
        out
    }

    /// Renders the diagnostic without source excerpts, one line per label.
    pub fn render_plain(&self, sources: &SourceMap) -> String {
        let mut out = format!("{}: {} [{}]\n", self.severity, self.summary, self.code);
        for label in &self.labels {
            let location = sources.location(&label.span).unwrap_or_default();
            out.push_str(&format!("  at {location}: {}\n", label.text));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("  help: {help}\n"));
        }
        out
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Severity::Error => formatter.write_str("error"),
            Severity::Warning => formatter.write_str("warning"),
        }
    }
}

/// Options for rendering diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Whether to use ANSI colours.
    pub color: bool,
    /// Maximum line width in columns.
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            color: false,
            width: 100,
        }
    }
}

/// Every diagnostic of a run, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Creates an empty collection.
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    /// Adds a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Adds every diagnostic of another collection.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// Returns true when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Returns true when the collection is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Returns the number of diagnostics.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Returns the diagnostics in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Returns the errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|diagnostic| diagnostic.is_error())
    }

    /// Returns the warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|diagnostic| !diagnostic.is_error())
    }

    /// Renders every diagnostic as a `miette` report, separated by blank
    /// lines.
    pub fn render(&self, sources: &SourceMap, options: RenderOptions) -> String {
        let mut out = String::new();
        for diagnostic in &self.items {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&diagnostic.render(sources, options));
        }
        out
    }
}

impl Diagnostics {
    /// Returns the diagnostics as JSON in the shape of `validate -json`:
    /// validity, counts, and per diagnostic its severity, code, summary,
    /// help as `detail`, the primary `range` and every label.
    pub fn to_json(&self, sources: &SourceMap, valid: bool) -> serde_json::Value {
        let items: Vec<serde_json::Value> = self.items.iter().map(|item| item.to_json(sources)).collect();
        serde_json::json!({
            "format_version": "1.0",
            "valid": valid,
            "error_count": self.errors().count(),
            "warning_count": self.warnings().count(),
            "diagnostics": items,
        })
    }

    /// Removes exact repeats, such as the same error reported for every
    /// instance of a `for_each` tenant, keeping the first of each.
    pub fn dedup(&mut self) {
        let mut kept: Vec<Diagnostic> = Vec::with_capacity(self.items.len());
        for item in self.items.drain(..) {
            if !kept.contains(&item) {
                kept.push(item);
            }
        }
        self.items = kept;
    }

    /// Keeps only the diagnostics for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&Diagnostic) -> bool) {
        self.items.retain(keep);
    }
}

impl Diagnostic {
    fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let labels: Vec<serde_json::Value> = self
            .labels
            .iter()
            .map(|label| serde_json::json!({"message": label.text, "range": range_json(sources, &label.span)}))
            .collect();
        serde_json::json!({
            "severity": self.severity.to_string(),
            "code": self.code,
            "summary": self.summary,
            "detail": self.help.clone().unwrap_or_default(),
            "range": self.primary_span().map(|span| range_json(sources, span)),
            "labels": labels,
        })
    }
}

fn range_json(sources: &SourceMap, span: &Span) -> serde_json::Value {
    let Some(file) = sources.file(span) else {
        return serde_json::Value::Null;
    };
    let position = |offset: usize| {
        let (line, column) = file.line_column(offset);
        serde_json::json!({"line": line, "column": column, "byte": offset})
    };
    serde_json::json!({
        "filename": file.path.display().to_string(),
        "start": position(span.range.start),
        "end": position(span.range.end),
    })
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Diagnostics {
        Diagnostics {
            items: vec![diagnostic],
        }
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<I: IntoIterator<Item = Diagnostic>>(iter: I) -> Diagnostics {
        Diagnostics {
            items: iter.into_iter().collect(),
        }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// Writes one `severity: summary [code]` line per diagnostic, without
    /// source excerpts; use [`Diagnostics::render`] for the full reports.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.items {
            writeln!(formatter, "{}: {} [{}]", diagnostic.severity, diagnostic.summary, diagnostic.code)?;
        }
        Ok(())
    }
}

/// A diagnostic, or a group of its labels in one file, in the shape `miette`
/// renders.
///
/// `miette` shows one source file per report. Labels in the file of the
/// primary label go in the main report; labels in other files become related
/// reports, each with its own file.
#[derive(Debug)]
struct Report {
    severity: miette::Severity,
    code: Option<String>,
    summary: String,
    help: Option<String>,
    source: Option<CharColumnSource>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn build(diagnostic: &Diagnostic, sources: &SourceMap) -> Report {
        let mut groups: Vec<(usize, Vec<&Label>)> = Vec::new();
        for label in &diagnostic.labels {
            match groups.iter_mut().find(|(file, _)| *file == label.span.file) {
                Some((_, labels)) => labels.push(label),
                None => groups.push((label.span.file, vec![label])),
            }
        }
        let severity = match diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        };
        let mut groups = groups.into_iter();
        let mut report = match groups.next() {
            Some((file, labels)) => Report::for_file(sources, file, &labels, severity),
            None => Report::empty(severity),
        };
        report.code = Some(diagnostic.code.clone());
        report.summary = diagnostic.summary.clone();
        report.help = diagnostic.help.clone();
        for (file, labels) in groups {
            let mut related = Report::for_file(sources, file, &labels, miette::Severity::Advice);
            related.summary = "related location".to_owned();
            report.related.push(related);
        }
        report
    }

    fn empty(severity: miette::Severity) -> Report {
        Report {
            severity,
            code: None,
            summary: String::new(),
            help: None,
            source: None,
            labels: Vec::new(),
            related: Vec::new(),
        }
    }

    fn for_file(sources: &SourceMap, file: usize, labels: &[&Label], severity: miette::Severity) -> Report {
        let mut report = Report::empty(severity);
        let Some(source) = sources.files.get(file) else {
            return report;
        };
        report.source = Some(CharColumnSource::new(source));
        for (index, label) in labels.iter().enumerate() {
            let start = floor_char_boundary(&source.text, label.span.range.start);
            let end = floor_char_boundary(&source.text, label.span.range.end).max(start);
            let text = Some(label.text.clone()).filter(|text| !text.is_empty());
            let span = miette::SourceSpan::from(start..end);
            report.labels.push(if index == 0 {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            });
        }
        report
    }
}

impl fmt::Display for Report {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.summary)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.as_ref().map(|code| Box::new(code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|source| source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|report| report as &dyn miette::Diagnostic)))
    }
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
    fn render_shows_path_line_and_character_column() {
        let sources = sources("tenant \"café\" {\n  naem = \"x\"\n}\n");
        let diagnostic = Diagnostic::error("tenancy::config::unknown_attribute", "Unknown attribute")
            .with_label(Span::new(0, 19..23), "not an attribute of `tenant`")
            .with_help("Did you mean `name`?");

        let out = diagnostic.render(&sources, RenderOptions::default());

        assert!(out.contains("main.hcl:2:3"), "{out}");
        assert!(out.contains("Unknown attribute"), "{out}");
        assert!(out.contains("Did you mean `name`?"), "{out}");
    }

    #[test]
    fn header_column_counts_characters() {
        let sources = sources("label = \"é\" + x\n");
        let diagnostic = Diagnostic::error("tenancy::test", "Test").with_label(Span::new(0, 15..16), "here");

        let out = diagnostic.render(&sources, RenderOptions::default());

        assert!(out.contains("main.hcl:1:15"), "{out}");
    }

    #[test]
    fn has_errors_ignores_warnings() {
        let mut diagnostics = Diagnostics::new();
        diagnostics.push(Diagnostic::warning("tenancy::test", "Test"));
        assert!(!diagnostics.has_errors());

        diagnostics.push(Diagnostic::error("tenancy::test", "Test"));
        assert!(diagnostics.has_errors());
    }

    #[test]
    fn json_counts_errors_and_warnings() {
        let sources = sources("a = 1\n");
        let diagnostics: Diagnostics = [
            Diagnostic::warning("tenancy::test", "Test"),
            Diagnostic::error("tenancy::test", "Test"),
            Diagnostic::warning("tenancy::test", "Test"),
        ]
        .into_iter()
        .collect();

        let json = diagnostics.to_json(&sources, false);

        assert_eq!(json["error_count"], 1);
        assert_eq!(json["warning_count"], 2);
        assert_eq!(json["diagnostics"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn out_of_range_span_does_not_panic() {
        let sources = sources("a = 1\n");
        let diagnostic = Diagnostic::error("tenancy::test", "Test").with_label(Span::new(0, 40..90), "x");

        let out = diagnostic.render(&sources, RenderOptions::default());

        assert!(out.contains("Test"), "{out}");
    }
}
