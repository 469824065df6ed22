//! The rendered shape of attribute changes, before it becomes lines.
//!
//! A block of attributes is a list of [`Item`]s. Keeping the tree until the
//! last step lets the layout align the `=` of sibling attributes, put list
//! commas and `-> null` in the right places, and indent nested maps, lists
//! and heredocs one level deeper than their attribute.

use unicode_width::UnicodeWidthStr;

use super::lines::{Line, Marker};

/// One member of a block: an attribute, a map element or a list element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The change marker.
    pub marker: Marker,
    /// The attribute name or map key, already quoted when needed, or `None`
    /// for a list element.
    pub key: Option<String>,
    /// The rendered value.
    pub body: Body,
    /// Whether a change here forces the replacement of the resource.
    pub forces_replacement: bool,
}

/// A rendered value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// A value on one line, such as `"free" -> "pro"`.
    Inline(String),
    /// A map or list spread over several lines.
    Block {
        /// `{` or `[`.
        open: &'static str,
        /// The members.
        items: Vec<Item>,
        /// `}` or `]`, possibly followed by ` -> null`.
        close: String,
    },
    /// A multi-line string shown as a `<<-EOT` heredoc.
    Heredoc {
        /// The string's lines with their markers.
        lines: Vec<(Marker, String)>,
        /// Text after the closing `EOT`, such as ` -> null`.
        close_suffix: String,
    },
}

impl Body {
    /// Appends ` -> null`, which marks an attribute that is removed.
    pub(crate) fn removed(self) -> Body {
        match self {
            Body::Inline(text) => Body::Inline(format!("{text} -> null")),
            Body::Block { open, items, close } => Body::Block {
                open,
                items,
                close: format!("{close} -> null"),
            },
            Body::Heredoc {
                lines,
                close_suffix,
            } => Body::Heredoc {
                lines,
                close_suffix: format!("{close_suffix} -> null"),
            },
        }
    }
}

/// A member of a block, or a note about members left out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A rendered member.
    Entry(Entry),
    /// A comment such as `(3 unchanged attributes hidden)`.
    Note(String),
}

/// Appends the lines of a block's items at `depth`, aligning the `=` of the
/// keyed entries.
pub(crate) fn push_items(items: &[Item], depth: usize, lines: &mut Vec<Line>) {
    let key_width = items
        .iter()
        .filter_map(|item| match item {
            Item::Entry(Entry { key: Some(key), .. }) => Some(key.width()),
            _ => None,
        })
        .max()
        .unwrap_or(0);

    for item in items {
        match item {
            Item::Entry(entry) => push_entry(entry, depth, key_width, lines),
            Item::Note(text) => lines.push(Line::body(depth, Marker::None, format!("# {text}"))),
        }
    }
}

fn push_entry(entry: &Entry, depth: usize, key_width: usize, lines: &mut Vec<Line>) {
    let comma = if entry.key.is_none() { "," } else { "" };
    let rest = match &entry.body {
        Body::Inline(text) => text.as_str(),
        Body::Block { open, .. } => open,
        Body::Heredoc { .. } => "<<-EOT",
    };
    let mut text = String::with_capacity(key_width + rest.len() + 4);
    if let Some(key) = &entry.key {
        push_padded(&mut text, key, key_width);
        text.push_str(" = ");
    }
    text.push_str(rest);
    if matches!(entry.body, Body::Inline(_)) {
        text.push_str(comma);
    }

    let mut first = Line::body(depth, entry.marker, text);
    first.forces_replacement = entry.forces_replacement;
    lines.push(first);

    match &entry.body {
        Body::Inline(_) => {}
        Body::Block { items, close, .. } => {
            push_items(items, depth + 1, lines);
            lines.push(Line::body(depth, Marker::None, format!("{close}{comma}")));
        }
        Body::Heredoc {
            lines: text_lines,
            close_suffix,
        } => {
            for (marker, text) in text_lines {
                lines.push(Line::body(depth + 1, *marker, text.clone()));
            }
            lines.push(Line::body(
                depth,
                Marker::None,
                format!("EOT{close_suffix}{comma}"),
            ));
        }
    }
}

/// Appends `text` padded with spaces to `width` terminal columns, so keys
/// with wide characters still line up.
fn push_padded(out: &mut String, text: &str, width: usize) {
    out.push_str(text);
    let padding = width.saturating_sub(text.width());
    out.extend(std::iter::repeat_n(' ', padding));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: Option<&str>, marker: Marker, body: Body) -> Item {
        Item::Entry(Entry {
            marker,
            key: key.map(str::to_owned),
            body,
            forces_replacement: false,
        })
    }

    fn terminal(items: &[Item]) -> Vec<String> {
        let mut lines = Vec::new();
        push_items(items, 1, &mut lines);
        lines.iter().map(|line| line.to_terminal(false)).collect()
    }

    #[test]
    fn equals_signs_align_across_siblings() {
        let items = [
            entry(
                Some("tier"),
                Marker::Update,
                Body::Inline("\"a\" -> \"b\"".into()),
            ),
            entry(
                Some("display_name"),
                Marker::Create,
                Body::Inline("\"Acme\"".into()),
            ),
            Item::Note("(1 unchanged attribute hidden)".into()),
        ];

        assert_eq!(
            terminal(&items),
            [
                "      ~ tier         = \"a\" -> \"b\"",
                "      + display_name = \"Acme\"",
                "        # (1 unchanged attribute hidden)",
            ]
        );
    }

    #[test]
    fn wide_characters_count_by_columns() {
        let padded = |text: &str, width: usize| {
            let mut out = String::new();
            push_padded(&mut out, text, width);
            out
        };

        assert_eq!(padded("日本", 6), "日本  ");
        assert_eq!(padded("ab", 1), "ab");
    }

    #[test]
    fn list_elements_end_with_commas() {
        let list = Body::Block {
            open: "[",
            items: vec![entry(None, Marker::Create, Body::Inline("\"eu\"".into()))],
            close: "]".into(),
        };
        let items = [entry(Some("regions"), Marker::Update, list)];

        assert_eq!(
            terminal(&items),
            ["      ~ regions = [", "          + \"eu\",", "        ]"]
        );
    }

    #[test]
    fn removed_heredoc_closes_with_null() {
        let heredoc = Body::Heredoc {
            lines: vec![(Marker::None, "line".into())],
            close_suffix: String::new(),
        };
        let items = [entry(Some("script"), Marker::Delete, heredoc.removed())];

        assert_eq!(
            terminal(&items),
            [
                "      - script = <<-EOT",
                "            line",
                "        EOT -> null"
            ]
        );
    }
}
