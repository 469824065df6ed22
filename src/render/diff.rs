//! Attribute-level differences between two values, as a render tree.
//!
//! Maps are compared key by key, lists element by element with a longest
//! common subsequence (so an inserted element does not show every later one
//! as changed), and multi-line strings line by line. Unknown values render as
//! `(known after apply)`; a sensitive value renders as `(sensitive value)`
//! whatever it contains, so neither its data nor its length ever reaches the
//! output.

use serde_json::Value as Json;
use similar::{Algorithm, ChangeTag, DiffTag, TextDiff, capture_diff_slices};
use tenancy_sdk::{Attrs, Value};

use super::lines::Marker;
use super::path::path_to_json;
use super::tree::{Body, Entry, Item};

/// Placeholder for a value that is known only after apply.
pub(crate) const UNKNOWN: &str = "(known after apply)";
/// Placeholder for a sensitive value.
pub(crate) const SENSITIVE: &str = "(sensitive value)";

/// Unchanged lines kept around each changed line of a heredoc.
const HEREDOC_CONTEXT_LINES: usize = 3;
/// Attributes shown in an update even when unchanged, because they identify
/// the object being changed.
const IDENTIFYING_ATTRIBUTES: [&str; 2] = ["id", "name"];

/// Settings for one block of attributes.
pub(crate) struct DiffOptions {
    /// Show unchanged attributes and elements instead of counting them.
    pub show_unchanged: bool,
    /// Paths, as JSON step arrays, whose change forces a replacement.
    pub replace_paths: Vec<Json>,
}

impl DiffOptions {
    /// Creates options, parsing the plan's replace paths.
    pub(crate) fn new(show_unchanged: bool, replace_paths: &[String]) -> DiffOptions {
        DiffOptions {
            show_unchanged,
            replace_paths: replace_paths
                .iter()
                .map(|path| path_to_json(path))
                .collect(),
        }
    }

    fn forces_replacement(&self, path: &[Json]) -> bool {
        self.replace_paths
            .iter()
            .any(|replace| replace.as_array().is_some_and(|steps| steps == path))
    }
}

/// Returns the items of a resource block: every attribute that changes from
/// `before` to `after`, with unchanged ones counted in a note.
pub(crate) fn attribute_items(
    before: Option<&Attrs>,
    after: Option<&Attrs>,
    options: &DiffOptions,
) -> Vec<Item> {
    let empty = Attrs::new();
    let before = before.unwrap_or(&empty);
    let after = after.unwrap_or(&empty);
    let before = before.iter().map(|(name, value)| (name.as_str(), value));
    let after = after.iter().map(|(name, value)| (name.as_str(), value));
    map_items(before, after, &[], options, Noun::Attribute)
}

/// Returns the entry for one named value that may be absent on either side,
/// such as an output; `None` when it is absent on both.
pub(crate) fn keyed_entry(
    key: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    options: &DiffOptions,
) -> Option<Entry> {
    let path = [Json::String(key.to_owned())];
    let (marker, body) = diff_value(before, after, &path, options)?;
    Some(Entry {
        marker,
        key: Some(render_key(key)),
        body,
        forces_replacement: false,
    })
}

/// The kind of member a hidden-members note counts.
#[derive(Clone, Copy)]
enum Noun {
    Attribute,
    Element,
    Line,
}

fn hidden_note(count: usize, noun: Noun) -> Item {
    Item::Note(hidden_text(count, noun))
}

fn hidden_text(count: usize, noun: Noun) -> String {
    let word = match noun {
        Noun::Attribute => "attribute",
        Noun::Element => "element",
        Noun::Line => "line",
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("({count} unchanged {word}{plural} hidden)")
}

fn map_items<'a>(
    before: impl Iterator<Item = (&'a str, &'a Value)>,
    after: impl Iterator<Item = (&'a str, &'a Value)>,
    path: &[Json],
    options: &DiffOptions,
    noun: Noun,
) -> Vec<Item> {
    let mut items = Vec::new();
    let mut hidden = 0;

    for (key, before_value, after_value) in merged(before, after) {
        let child_path = child_path(path, key, options);
        let Some((marker, body)) = diff_value(before_value, after_value, &child_path, options)
        else {
            continue;
        };
        let identifying = path.is_empty() && IDENTIFYING_ATTRIBUTES.contains(&key);
        if marker == Marker::None && !options.show_unchanged && !identifying {
            hidden += 1;
            continue;
        }
        items.push(Item::Entry(Entry {
            marker,
            key: Some(render_key(key)),
            body,
            forces_replacement: options.forces_replacement(&child_path),
        }));
    }

    if hidden > 0 {
        items.push(hidden_note(hidden, noun));
    }
    items
}

/// Returns every key of two key-ordered sequences in order, with its value
/// on each side.
fn merged<'a>(
    before: impl Iterator<Item = (&'a str, &'a Value)>,
    after: impl Iterator<Item = (&'a str, &'a Value)>,
) -> impl Iterator<Item = (&'a str, Option<&'a Value>, Option<&'a Value>)> {
    let mut before = before.peekable();
    let mut after = after.peekable();
    std::iter::from_fn(move || match (before.peek(), after.peek()) {
        (None, None) => None,
        (Some((left, _)), Some((right, _))) if left == right => {
            let (key, left) = before.next()?;
            let (_, right) = after.next()?;
            Some((key, Some(left), Some(right)))
        }
        (Some((left, _)), Some((right, _))) if left < right => {
            let (key, left) = before.next()?;
            Some((key, Some(left), None))
        }
        (Some(_), None) => {
            let (key, left) = before.next()?;
            Some((key, Some(left), None))
        }
        (_, Some(_)) => {
            let (key, right) = after.next()?;
            Some((key, None, Some(right)))
        }
    })
}

/// A stand-in for the path below the top level when no path forces a
/// replacement: only whether a path is empty matters then.
static NESTED: [Json; 1] = [Json::Null];

/// Returns the path of `key` under `path`. Without replace paths to match,
/// it skips building the path and returns [`NESTED`].
fn child_path<'a>(path: &[Json], key: &str, options: &DiffOptions) -> std::borrow::Cow<'a, [Json]> {
    if options.replace_paths.is_empty() {
        return std::borrow::Cow::Borrowed(&NESTED);
    }
    std::borrow::Cow::Owned(extend(path, Json::String(key.to_owned())))
}

/// Compares one value; `None` when it is absent (or null) on both sides.
fn diff_value(
    before: Option<&Value>,
    after: Option<&Value>,
    path: &[Json],
    options: &DiffOptions,
) -> Option<(Marker, Body)> {
    let before = before.filter(|value| !matches!(value, Value::Null));
    let after = after.filter(|value| !matches!(value, Value::Null));
    match (before, after) {
        (None, None) => None,
        (None, Some(after)) => Some((Marker::Create, whole_body(after, Marker::Create))),
        (Some(before), None) => {
            Some((Marker::Delete, whole_body(before, Marker::Delete).removed()))
        }
        (Some(before), Some(after)) if before == after => {
            Some((Marker::None, whole_body(after, Marker::None)))
        }
        (Some(before), Some(after)) => {
            Some((Marker::Update, changed_body(before, after, path, options)))
        }
    }
}

/// Renders a value that differs between `before` and `after`.
fn changed_body(before: &Value, after: &Value, path: &[Json], options: &DiffOptions) -> Body {
    if before.is_sensitive() || after.is_sensitive() {
        return Body::Inline(SENSITIVE.to_owned());
    }
    match (before, after) {
        (Value::Map(before), Value::Map(after)) => Body::Block {
            open: "{",
            items: map_items(
                before.iter().map(|(key, value)| (key.as_str(), value)),
                after.iter().map(|(key, value)| (key.as_str(), value)),
                path,
                options,
                Noun::Element,
            ),
            close: "}".to_owned(),
        },
        (Value::List(before), Value::List(after)) => Body::Block {
            open: "[",
            items: list_items(before, after, path, options),
            close: "]".to_owned(),
        },
        (Value::String(before), Value::String(after))
            if before.contains('\n') || after.contains('\n') =>
        {
            Body::Heredoc {
                lines: heredoc_lines(before, after, options.show_unchanged),
                close_suffix: String::new(),
            }
        }
        _ => Body::Inline(format!("{before} -> {after}")),
    }
}

/// Renders a whole value whose every member carries `marker`: a created,
/// deleted or unchanged value.
fn whole_body(value: &Value, marker: Marker) -> Body {
    match value {
        Value::Sensitive(_) => Body::Inline(SENSITIVE.to_owned()),
        Value::Unknown => Body::Inline(UNKNOWN.to_owned()),
        Value::String(text) if text.contains('\n') => Body::Heredoc {
            lines: text
                .lines()
                .map(|line| (Marker::None, line.to_owned()))
                .collect(),
            close_suffix: String::new(),
        },
        Value::Map(map) if !map.is_empty() => Body::Block {
            open: "{",
            items: map
                .iter()
                .filter(|(_, value)| !matches!(value, Value::Null))
                .map(|(key, value)| whole_entry(Some(render_key(key)), value, marker))
                .collect(),
            close: "}".to_owned(),
        },
        Value::List(items) if !items.is_empty() => Body::Block {
            open: "[",
            items: items
                .iter()
                .map(|value| whole_entry(None, value, marker))
                .collect(),
            close: "]".to_owned(),
        },
        other => Body::Inline(other.to_string()),
    }
}

fn whole_entry(key: Option<String>, value: &Value, marker: Marker) -> Item {
    Item::Entry(Entry {
        marker,
        key,
        body: whole_body(value, marker),
        forces_replacement: false,
    })
}

/// Compares two lists by a longest common subsequence of their elements.
/// A run of removed elements facing a run of added ones of the same length
/// is shown as elements changed in place when they are maps or lists, so an
/// edit inside one element reads as that edit.
fn list_items(
    before: &[Value],
    after: &[Value],
    path: &[Json],
    options: &DiffOptions,
) -> Vec<Item> {
    let before_keys: Vec<String> = before.iter().map(comparison_key).collect();
    let after_keys: Vec<String> = after.iter().map(comparison_key).collect();
    let mut list = ListBuilder::new(options.show_unchanged);

    for op in capture_diff_slices(Algorithm::Myers, &before_keys, &after_keys) {
        let (tag, old, new) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => new.for_each(|index| list.unchanged(&after[index])),
            DiffTag::Delete => old.for_each(|index| list.deleted(&before[index])),
            DiffTag::Insert => new.for_each(|index| list.created(&after[index])),
            DiffTag::Replace => {
                let pairs_are_nested = old.len() == new.len()
                    && old
                        .clone()
                        .zip(new.clone())
                        .all(|(old, new)| is_nested_pair(&before[old], &after[new]));
                if pairs_are_nested {
                    for (old, new) in old.zip(new) {
                        let element_path = extend(path, Json::from(new));
                        let body = changed_body(&before[old], &after[new], &element_path, options);
                        list.changed(body, options.forces_replacement(&element_path));
                    }
                } else {
                    old.for_each(|index| list.deleted(&before[index]));
                    new.for_each(|index| list.created(&after[index]));
                }
            }
        }
    }
    list.finish()
}

/// Collects list elements, counting hidden unchanged runs in place.
struct ListBuilder {
    show_unchanged: bool,
    items: Vec<Item>,
    hidden: usize,
}

impl ListBuilder {
    fn new(show_unchanged: bool) -> ListBuilder {
        ListBuilder {
            show_unchanged,
            items: Vec::new(),
            hidden: 0,
        }
    }

    fn unchanged(&mut self, value: &Value) {
        if self.show_unchanged {
            self.items.push(whole_entry(None, value, Marker::None));
        } else {
            self.hidden += 1;
        }
    }

    fn deleted(&mut self, value: &Value) {
        self.push(whole_entry(None, value, Marker::Delete));
    }

    fn created(&mut self, value: &Value) {
        self.push(whole_entry(None, value, Marker::Create));
    }

    fn changed(&mut self, body: Body, forces_replacement: bool) {
        self.push(Item::Entry(Entry {
            marker: Marker::Update,
            key: None,
            body,
            forces_replacement,
        }));
    }

    fn push(&mut self, item: Item) {
        self.flush_hidden();
        self.items.push(item);
    }

    fn flush_hidden(&mut self) {
        if self.hidden > 0 {
            self.items.push(hidden_note(self.hidden, Noun::Element));
            self.hidden = 0;
        }
    }

    fn finish(mut self) -> Vec<Item> {
        self.flush_hidden();
        self.items
    }
}

fn is_nested_pair(before: &Value, after: &Value) -> bool {
    matches!(
        (before, after),
        (Value::Map(_), Value::Map(_)) | (Value::List(_), Value::List(_))
    )
}

/// Returns a string that is equal for two elements exactly when the elements
/// are, marks included. It contains sensitive data, so it is only compared and
/// never shown.
fn comparison_key(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

/// Returns the lines of a multi-line string change, unchanged lines far from
/// any change counted in notes unless `show_unchanged`.
pub(crate) fn heredoc_lines(
    before: &str,
    after: &str,
    show_unchanged: bool,
) -> Vec<(Marker, String)> {
    let diff = TextDiff::from_lines(before, after);
    let mut lines = Vec::new();
    let groups = if show_unchanged {
        vec![diff.ops().to_vec()]
    } else {
        diff.grouped_ops(HEREDOC_CONTEXT_LINES)
    };
    let total_old_lines = diff.old_slices().len();
    let mut next_old_line = 0;

    for group in &groups {
        let Some(first) = group.first() else { continue };
        push_hidden_lines(&mut lines, first.old_range().start - next_old_line);
        for op in group {
            for change in diff.iter_changes(op) {
                let marker = match change.tag() {
                    ChangeTag::Equal => Marker::None,
                    ChangeTag::Delete => Marker::Delete,
                    ChangeTag::Insert => Marker::Create,
                };
                let text = change.value().trim_end_matches(['\n', '\r']).to_owned();
                lines.push((marker, text));
            }
            next_old_line = op.old_range().end;
        }
    }
    push_hidden_lines(&mut lines, total_old_lines.saturating_sub(next_old_line));
    lines
}

fn push_hidden_lines(lines: &mut Vec<(Marker, String)>, count: usize) {
    if count > 0 {
        lines.push((
            Marker::None,
            format!("# {}", hidden_text(count, Noun::Line)),
        ));
    }
}

/// Quotes a map key unless it is a plain identifier, as HCL writes keys.
pub(crate) fn render_key(key: &str) -> String {
    let mut chars = key.chars();
    let is_identifier = chars
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && chars.all(|rest| rest.is_alphanumeric() || rest == '_' || rest == '-');
    if is_identifier {
        key.to_owned()
    } else {
        Json::String(key.to_owned()).to_string()
    }
}

fn extend(path: &[Json], step: Json) -> Vec<Json> {
    let mut extended = path.to_vec();
    extended.push(step);
    extended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_diff_marks_changed_lines() {
        let lines = heredoc_lines("a\nb\nc\n", "a\nB\nc\n", false);

        assert_eq!(
            lines,
            [
                (Marker::None, "a".to_owned()),
                (Marker::Delete, "b".to_owned()),
                (Marker::Create, "B".to_owned()),
                (Marker::None, "c".to_owned()),
            ]
        );
    }

    #[test]
    fn heredoc_diff_hides_distant_lines() {
        let before: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let after = before.replace("line 10\n", "line ten\n");

        let lines = heredoc_lines(&before, &after, false);

        assert_eq!(lines.first().unwrap().1, "# (6 unchanged lines hidden)");
        assert_eq!(lines.last().unwrap().1, "# (7 unchanged lines hidden)");
        assert_eq!(lines.len(), 2 + 3 + 2 + 3);
    }

    #[test]
    fn heredoc_diff_shows_all_lines_on_request() {
        let before: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let after = before.replace("line 10\n", "line ten\n");

        assert_eq!(heredoc_lines(&before, &after, true).len(), 21);
    }

    #[test]
    fn keys_are_quoted_unless_identifiers() {
        assert_eq!(render_key("storage_gb"), "storage_gb");
        assert_eq!(render_key("team-name"), "team-name");
        assert_eq!(
            render_key("app.kubernetes.io/name"),
            "\"app.kubernetes.io/name\""
        );
        assert_eq!(render_key("9lives"), "\"9lives\"");
        assert_eq!(render_key(""), "\"\"");
    }

    #[test]
    fn sensitive_change_hides_both_sides() {
        let before = Value::sensitive(Value::string("old-secret"));
        let after = Value::sensitive(Value::string("new-secret"));
        let options = DiffOptions::new(false, &[]);

        let entry = keyed_entry("password", Some(&before), Some(&after), &options).unwrap();

        assert_eq!(entry.marker, Marker::Update);
        assert_eq!(entry.body, Body::Inline(SENSITIVE.to_owned()));
    }

    #[test]
    fn list_insert_keeps_later_elements_unchanged() {
        let before = Value::list(vec!["a".into(), "c".into()]);
        let after = Value::list(vec!["a".into(), "b".into(), "c".into()]);
        let options = DiffOptions::new(false, &[]);

        let entry = keyed_entry("zones", Some(&before), Some(&after), &options).unwrap();
        let Body::Block { items, .. } = entry.body else {
            panic!("expected a block")
        };

        assert_eq!(items.len(), 3);
        assert_eq!(items[0], hidden_note(1, Noun::Element));
        assert!(matches!(
            &items[1],
            Item::Entry(Entry {
                marker: Marker::Create,
                ..
            })
        ));
        assert_eq!(items[2], hidden_note(1, Noun::Element));
    }
}
