//! Rendered lines with their change marker, and how each output format lays
//! them out.
//!
//! The plan renderers first turn a change into [`Line`]s that know their
//! nesting depth and marker, then lay them out. The terminal puts the marker
//! just before the text, as Terraform does. The Markdown `diff` block moves
//! it to the first column, where GitHub's diff highlighting looks for it.

use std::borrow::Cow;
use std::fmt::Write as _;

use owo_colors::OwoColorize;

use crate::plan::Action;

/// The text placed after an attribute whose change forces a replacement.
pub(crate) const FORCES_REPLACEMENT: &str = "# forces replacement";

/// The change marker of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Unchanged, or a line that continues another one.
    None,
    /// Added: `+`.
    Create,
    /// Changed in place: `~`.
    Update,
    /// Removed: `-`.
    Delete,
    /// Destroyed and created again: `-/+`.
    Replace,
}

impl Marker {
    /// Returns the marker shown for a resource with this action.
    pub(crate) fn for_action(action: Action) -> Marker {
        match action {
            Action::NoOp => Marker::None,
            Action::Create => Marker::Create,
            Action::Update => Marker::Update,
            Action::Replace => Marker::Replace,
            Action::Delete => Marker::Delete,
        }
    }

    /// Returns the marker's symbol, a space for [`Marker::None`].
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Marker::None => " ",
            Marker::Create => "+",
            Marker::Update => "~",
            Marker::Delete => "-",
            Marker::Replace => "-/+",
        }
    }

    /// Appends the symbol right-aligned in three columns, coloured when
    /// asked.
    fn write_padded(self, out: &mut String, color: bool) {
        for _ in self.symbol().len()..3 {
            out.push(' ');
        }
        if !color {
            out.push_str(self.symbol());
            return;
        }
        // `fmt::Write` for `String` never returns an error.
        let _ = match self {
            Marker::None => write!(out, " "),
            Marker::Create => write!(out, "{}", "+".green()),
            Marker::Update => write!(out, "{}", "~".yellow()),
            Marker::Delete => write!(out, "{}", "-".red()),
            Marker::Replace => write!(out, "{}/{}", "-".red(), "+".green()),
        };
    }
}

/// Whether a line is a comment heading above a block or part of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// A `# address will be created` line.
    Heading,
    /// A line of a resource or output block.
    Body,
}

/// One rendered line before layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Nesting depth; each level indents by four columns.
    pub depth: usize,
    /// The change marker.
    pub marker: Marker,
    /// The text after the marker.
    pub text: String,
    /// Heading or body line.
    pub kind: LineKind,
    /// Whether the line ends with [`FORCES_REPLACEMENT`].
    pub forces_replacement: bool,
}

impl Line {
    /// Creates a body line.
    pub(crate) fn body(depth: usize, marker: Marker, text: impl Into<String>) -> Line {
        Line {
            depth,
            marker,
            text: text.into(),
            kind: LineKind::Body,
            forces_replacement: false,
        }
    }

    /// Creates a heading line.
    pub(crate) fn heading(text: impl Into<String>) -> Line {
        Line {
            depth: 0,
            marker: Marker::None,
            text: text.into(),
            kind: LineKind::Heading,
            forces_replacement: false,
        }
    }

    #[cfg(test)]
    /// Lays the line out for a terminal: the marker right-aligned in three
    /// columns after the indentation, as Terraform does.
    pub(crate) fn to_terminal(&self, color: bool) -> String {
        let mut line = String::new();
        self.write_terminal(&mut line, color);
        line
    }

    /// Appends the line as [`Line::to_terminal`] lays it out, without a
    /// line break.
    pub(crate) fn write_terminal(&self, out: &mut String, color: bool) {
        let start = out.len();
        for _ in 0..self.depth {
            out.push_str("    ");
        }
        let text = printable(&self.text);
        // `fmt::Write` for `String` never returns an error.
        let _ = match self.kind {
            LineKind::Heading if color => write!(out, "  {}", text.bold()),
            LineKind::Heading => write!(out, "  {text}"),
            LineKind::Body => {
                self.marker.write_padded(out, color);
                write!(out, " {text}")
            }
        };
        let _ = match (self.forces_replacement, color) {
            (false, _) => Ok(()),
            (true, false) => write!(out, " {FORCES_REPLACEMENT}"),
            (true, true) => write!(out, " {}", FORCES_REPLACEMENT.red()),
        };
        let trimmed_len = out[start..].trim_end().len();
        out.truncate(start + trimmed_len);
    }

    /// Lays the line out for a Markdown `diff` block: the marker in the first
    /// column, then the same indentation as on a terminal.
    pub(crate) fn to_diff(&self) -> String {
        let indent = "    ".repeat(self.depth);
        let text = printable(&self.text);
        let line = match self.kind {
            LineKind::Heading => format!("{indent}{text}"),
            LineKind::Body => format!("{:<3} {indent}{text}", self.marker.symbol()),
        };
        let line = if self.forces_replacement {
            format!("{line} {FORCES_REPLACEMENT}")
        } else {
            line
        };
        line.trim_end().to_owned()
    }
}

/// Replaces control characters other than tab by their `\u{…}` escape, so
/// a value that contains escape sequences cannot restyle or move the
/// terminal's cursor. Quoted values are escaped already, but heredoc lines
/// and addresses are printed as they are.
fn printable(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|character| character.is_control() && character != '\t')
    {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() && character != '\t' {
            escaped.extend(character.escape_unicode());
        } else {
            escaped.push(character);
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_layout_matches_terraform_columns() {
        assert_eq!(
            Line::heading("# a will be created").to_terminal(false),
            "  # a will be created"
        );
        assert_eq!(
            Line::body(0, Marker::Create, "resource").to_terminal(false),
            "  + resource"
        );
        assert_eq!(
            Line::body(0, Marker::Replace, "resource").to_terminal(false),
            "-/+ resource"
        );
        assert_eq!(
            Line::body(1, Marker::Update, "tier").to_terminal(false),
            "      ~ tier"
        );
        assert_eq!(
            Line::body(1, Marker::None, "id").to_terminal(false),
            "        id"
        );
        assert_eq!(Line::body(0, Marker::None, "}").to_terminal(false), "    }");
    }

    #[test]
    fn diff_layout_puts_marker_first() {
        assert_eq!(
            Line::body(1, Marker::Delete, "tier").to_diff(),
            "-       tier"
        );
        assert_eq!(
            Line::body(0, Marker::Replace, "resource").to_diff(),
            "-/+ resource"
        );
        assert_eq!(Line::body(1, Marker::None, "id").to_diff(), "        id");
    }

    #[test]
    fn forces_replacement_follows_text() {
        let mut line = Line::body(1, Marker::Update, "region = \"a\" -> \"b\"");
        line.forces_replacement = true;

        assert_eq!(
            line.to_terminal(false),
            "      ~ region = \"a\" -> \"b\" # forces replacement"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let line = Line::body(2, Marker::Create, "\u{1b}[2Jcleared\tcolumn");

        assert_eq!(
            line.to_terminal(false),
            "          + \\u{1b}[2Jcleared\tcolumn"
        );
        assert_eq!(line.to_diff(), "+           \\u{1b}[2Jcleared\tcolumn");
    }

    #[test]
    fn colour_wraps_marker_only() {
        let line = Line::body(1, Marker::Create, "name").to_terminal(true);

        assert!(line.contains("\u{1b}[32m+\u{1b}[39m"), "{line:?}");
        assert!(line.ends_with(" name"));
    }
}
