//! Attribute paths and resource addresses, split into steps.
//!
//! Plans carry paths as strings in the configuration's own syntax: names
//! joined by dots, list indices in brackets and map keys as quoted strings in
//! brackets, as in `limits.storage_gb`, `networks[0]` or `labels["team"]`.
//! Resource addresses use the same syntax (`tenant.studios["berlin"]`). The
//! renderers need the steps: to mark the attribute that forces a
//! replacement, to write `replace_paths` as JSON arrays and to take a
//! resource's name and index from its address.

use serde_json::Value as Json;

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A name written bare, such as `limits`.
    Name(String),
    /// A map key written as a quoted string in brackets, such as `["team"]`.
    Key(String),
    /// A list index in brackets, such as `[0]`.
    Index(u64),
}

impl Step {
    /// Returns the step as Terraform writes a path step in JSON: a string for
    /// names and keys, a number for indices.
    pub fn to_json(&self) -> Json {
        match self {
            Step::Name(name) | Step::Key(name) => Json::String(name.clone()),
            Step::Index(index) => Json::from(*index),
        }
    }
}

/// Splits a path or address into steps.
///
/// Text that does not follow the syntax (an unclosed bracket, an empty name)
/// is kept whole as a single name, so a malformed path still renders as
/// itself instead of being lost.
pub fn parse_path(text: &str) -> Vec<Step> {
    try_parse_path(text).unwrap_or_else(|| vec![Step::Name(text.to_owned())])
}

/// Returns the path as the JSON array of steps used by `replace_paths`.
pub fn path_to_json(text: &str) -> Json {
    Json::Array(parse_path(text).iter().map(Step::to_json).collect())
}

/// Returns the resource name and the instance index of an address: the last
/// name, and the key or index that follows it, if any.
pub fn address_name_and_index(address: &str) -> (String, Option<Json>) {
    let steps = parse_path(address);
    let last_name = steps
        .iter()
        .enumerate()
        .rev()
        .find_map(|(position, step)| match step {
            Step::Name(name) => Some((position, name)),
            _ => None,
        });
    let Some((position, name)) = last_name else {
        return (address.to_owned(), None);
    };
    let index = steps.get(position + 1).map(Step::to_json);
    (name.clone(), index)
}

fn try_parse_path(text: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after_bracket) = rest.strip_prefix('[') {
            let (step, remainder) = parse_bracket(after_bracket)?;
            steps.push(step);
            rest = remainder;
        } else {
            let body = if steps.is_empty() {
                rest
            } else {
                rest.strip_prefix('.')?
            };
            let end = body.find(['.', '[']).unwrap_or(body.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Name(body[..end].to_owned()));
            rest = &body[end..];
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// Parses the inside of `[...]` after the opening bracket, returning the step
/// and the text after the closing bracket.
fn parse_bracket(text: &str) -> Option<(Step, &str)> {
    if let Some(quoted) = text.strip_prefix('"') {
        let (key, after_quote) = parse_quoted(quoted)?;
        let rest = after_quote.strip_prefix(']')?;
        return Some((Step::Key(key), rest));
    }
    let end = text.find(']')?;
    let index = text[..end].parse().ok()?;
    Some((Step::Index(index), &text[end + 1..]))
}

/// Reads a quoted string up to its closing quote, undoing backslash escapes.
fn parse_quoted(text: &str) -> Option<(String, &str)> {
    let mut key = String::new();
    let mut chars = text.char_indices();
    while let Some((position, character)) = chars.next() {
        match character {
            '"' => return Some((key, &text[position + 1..])),
            '\\' => key.push(chars.next()?.1),
            other => key.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_names_split_into_steps() {
        assert_eq!(
            parse_path("limits.storage_gb"),
            vec![Step::Name("limits".into()), Step::Name("storage_gb".into())]
        );
    }

    #[test]
    fn brackets_give_keys_and_indices() {
        assert_eq!(
            path_to_json(r#"labels["team.a"]"#),
            json!(["labels", "team.a"])
        );
        assert_eq!(
            path_to_json("networks[2].cidr"),
            json!(["networks", 2, "cidr"])
        );
    }

    #[test]
    fn escaped_quote_inside_key() {
        assert_eq!(
            path_to_json(r#"labels["say \"hi\""]"#),
            json!(["labels", "say \"hi\""])
        );
    }

    #[test]
    fn malformed_path_stays_whole() {
        assert_eq!(
            parse_path("labels[\"open"),
            vec![Step::Name("labels[\"open".into())]
        );
        assert_eq!(parse_path("a..b"), vec![Step::Name("a..b".into())]);
        assert_eq!(parse_path("list[x]"), vec![Step::Name("list[x]".into())]);
    }

    #[test]
    fn address_name_is_last_name() {
        assert_eq!(
            address_name_and_index("tenant.acme.database.sqlite"),
            ("sqlite".to_owned(), None)
        );
    }

    #[test]
    fn address_index_follows_name() {
        assert_eq!(
            address_name_and_index(r#"tenant.studios["berlin"]"#),
            ("studios".to_owned(), Some(json!("berlin")))
        );
        assert_eq!(
            address_name_and_index("tenant.shards[3].database.pg"),
            ("pg".to_owned(), None)
        );
    }
}
