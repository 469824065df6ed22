//! Typed attribute values shared by the engine and every provider.
//!
//! A [`Value`] is a JSON-like tree with two marks that plans need: a value can
//! be unknown until apply ("known after apply"), and a value can be sensitive
//! (never printed). Both marks propagate through every operation the engine
//! performs on a value, so a secret read from a variable stays sensitive in
//! every attribute derived from it.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

pub use arcstr::ArcStr;
pub use thin_vec::ThinVec;

/// A typed attribute value, possibly unknown and possibly sensitive.
///
/// A value takes 16 bytes, because every variant has at most one pointer.
/// Strings are reference counted, so copies of a value share their text.
/// Lists and maps keep their length and contents behind the pointer. A plan
/// of 100,000 resources contains millions of values, and the 32 bytes that
/// a `String`, `Vec` or `BTreeMap` variant would take doubled their memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// The absence of a value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A number; integers are exact up to 2^53.
    Number(f64),
    /// A UTF-8 string.
    String(ArcStr),
    /// An ordered list (also used for tuples and sets).
    List(ThinVec<Value>),
    /// A map with string keys (also used for objects).
    Map(ValueMap),
    /// A value that is known only after apply.
    Unknown,
    /// A value that must never be printed.
    Sensitive(Box<Value>),
}

// Every variant has at most one pointer, so a value takes 16 bytes.
const _: () = assert!(std::mem::size_of::<Value>() == 16);

/// The entries of a [`Value::Map`]: a B-tree map behind one pointer, with
/// no allocation while it is empty.
#[derive(Clone, Default)]
pub struct ValueMap(Option<Box<BTreeMap<String, Value>>>);

/// The map that every empty [`ValueMap`] reads as.
static EMPTY_MAP: BTreeMap<String, Value> = BTreeMap::new();

impl ValueMap {
    /// Returns an empty map.
    pub fn new() -> ValueMap {
        ValueMap(None)
    }

    /// Returns the entries as a B-tree map.
    pub fn into_inner(self) -> BTreeMap<String, Value> {
        self.0.map(|map| *map).unwrap_or_default()
    }
}

impl Deref for ValueMap {
    type Target = BTreeMap<String, Value>;

    fn deref(&self) -> &BTreeMap<String, Value> {
        self.0.as_deref().unwrap_or(&EMPTY_MAP)
    }
}

impl DerefMut for ValueMap {
    fn deref_mut(&mut self) -> &mut BTreeMap<String, Value> {
        self.0.get_or_insert_with(Box::default)
    }
}

impl PartialEq for ValueMap {
    /// Compares the entries, so a map emptied after its first entry equals
    /// a map that never had one.
    fn eq(&self, other: &ValueMap) -> bool {
        **self == **other
    }
}

impl fmt::Debug for ValueMap {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, formatter)
    }
}

impl From<BTreeMap<String, Value>> for ValueMap {
    fn from(map: BTreeMap<String, Value>) -> ValueMap {
        ValueMap((!map.is_empty()).then(|| Box::new(map)))
    }
}

impl From<ValueMap> for BTreeMap<String, Value> {
    fn from(map: ValueMap) -> BTreeMap<String, Value> {
        map.into_inner()
    }
}

impl FromIterator<(String, Value)> for ValueMap {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(entries: I) -> ValueMap {
        ValueMap::from(entries.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl IntoIterator for ValueMap {
    type Item = (String, Value);
    type IntoIter = std::collections::btree_map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_inner().into_iter()
    }
}

impl<'a> IntoIterator for &'a ValueMap {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut ValueMap {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = std::collections::btree_map::IterMut<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl Value {
    /// Wraps a value in the sensitive mark, unless it already carries it.
    pub fn sensitive(value: Value) -> Value {
        match value {
            Value::Sensitive(_) => value,
            other => Value::Sensitive(Box::new(other)),
        }
    }

    /// Returns a string value.
    pub fn string(text: impl Into<ArcStr>) -> Value {
        Value::String(text.into())
    }

    /// Returns a list value.
    pub fn list(items: impl Into<ThinVec<Value>>) -> Value {
        Value::List(items.into())
    }

    /// Returns a map value.
    pub fn map(entries: impl Into<ValueMap>) -> Value {
        Value::Map(entries.into())
    }

    /// Returns true when both values are the same in every respect:
    /// numbers compare by their bits, so `0` and `-0` differ, and the
    /// sensitive marks must match. An unknown value is identical to none,
    /// since it stands for a value that is not known yet.
    pub fn is_identical(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(left), Value::Bool(right)) => left == right,
            (Value::Number(left), Value::Number(right)) => left.to_bits() == right.to_bits(),
            (Value::String(left), Value::String(right)) => left == right,
            (Value::List(left), Value::List(right)) => {
                left.len() == right.len() && left.iter().zip(right.iter()).all(|(left, right)| left.is_identical(right))
            }
            (Value::Map(left), Value::Map(right)) => {
                left.len() == right.len()
                    && left.iter().zip(right.iter()).all(|((left_key, left), (right_key, right))| {
                        left_key == right_key && left.is_identical(right)
                    })
            }
            (Value::Sensitive(left), Value::Sensitive(right)) => left.is_identical(right),
            _ => false,
        }
    }

    /// Returns true when this value or any value nested in it is unknown.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::Sensitive(inner) => inner.contains_unknown(),
            Value::List(items) => items.iter().any(Value::contains_unknown),
            Value::Map(map) => map.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    /// Returns true when this value itself is unknown (under any sensitive mark).
    pub fn is_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::Sensitive(inner) => inner.is_unknown(),
            _ => false,
        }
    }

    /// Returns true when this value carries the sensitive mark at its top.
    pub fn is_sensitive(&self) -> bool {
        matches!(self, Value::Sensitive(_))
    }

    /// Returns true when this value or any value nested in it is sensitive.
    pub fn contains_sensitive(&self) -> bool {
        match self {
            Value::Sensitive(_) => true,
            Value::List(items) => items.iter().any(Value::contains_sensitive),
            Value::Map(map) => map.values().any(Value::contains_sensitive),
            _ => false,
        }
    }

    /// Returns the value under any sensitive mark.
    pub fn unmarked(&self) -> &Value {
        match self {
            Value::Sensitive(inner) => inner.unmarked(),
            other => other,
        }
    }

    /// Returns how many levels of lists and maps nest in the value: 0 for a
    /// scalar, 1 for a list of scalars, and so on.
    pub fn depth(&self) -> usize {
        match self {
            Value::List(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Map(map) => 1 + map.values().map(Value::depth).max().unwrap_or(0),
            Value::Sensitive(inner) => inner.depth(),
            _ => 0,
        }
    }

    /// Compares two values by their data, ignoring sensitive marks, without
    /// copying either.
    pub fn eq_unmarked(&self, other: &Value) -> bool {
        match (self.unmarked(), other.unmarked()) {
            (Value::List(left), Value::List(right)) => {
                left.len() == right.len()
                    && left
                        .iter()
                        .zip(right)
                        .all(|(left, right)| left.eq_unmarked(right))
            }
            (Value::Map(left), Value::Map(right)) => {
                left.len() == right.len()
                    && left
                        .iter()
                        .zip(right)
                        .all(|((left_key, left), (right_key, right))| {
                            left_key == right_key && left.eq_unmarked(right)
                        })
            }
            (left, right) => left == right,
        }
    }

    /// Removes every sensitive mark from the tree, keeping the data.
    pub fn strip_marks(&self) -> Value {
        match self {
            Value::Sensitive(inner) => inner.strip_marks(),
            Value::List(items) => Value::List(items.iter().map(Value::strip_marks).collect()),
            Value::Map(map) => Value::Map(
                map.iter()
                    .map(|(key, value)| (key.clone(), value.strip_marks()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Returns the string under any sensitive mark, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self.unmarked() {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// Returns the number under any sensitive mark, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self.unmarked() {
            Value::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// Returns the number as an integer when it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        let number = self.as_f64()?;
        let in_range = number.fract() == 0.0 && number.abs() <= 9_007_199_254_740_992.0;
        in_range.then_some(number as i64)
    }

    /// Returns the boolean under any sensitive mark, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self.unmarked() {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    /// Returns the list under any sensitive mark, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self.unmarked() {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Returns the map under any sensitive mark, if this is a map.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unmarked() {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// Returns true for [`Value::Null`] under any sensitive mark.
    pub fn is_null(&self) -> bool {
        matches!(self.unmarked(), Value::Null)
    }

    /// Returns the user-facing name of this value's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Unknown => "unknown",
            Value::Sensitive(inner) => inner.type_name(),
        }
    }

    /// Converts to plain JSON: sensitive marks are dropped and unknown values
    /// become `null`. Use [`Value::unknown_mask`] and
    /// [`Value::sensitive_mask`] to keep the marks beside the data.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown => serde_json::Value::Null,
            Value::Bool(flag) => serde_json::Value::Bool(*flag),
            Value::Number(number) => number_to_json(*number),
            Value::String(text) => serde_json::Value::String(text.to_string()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
            ),
            Value::Sensitive(inner) => inner.to_json(),
        }
    }

    /// Converts plain JSON into a value without marks.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(flag) => Value::Bool(*flag),
            serde_json::Value::Number(number) => Value::Number(number.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(text) => Value::string(text.as_str()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Map(
                map.iter()
                    .map(|(key, value)| (key.clone(), Value::from_json(value)))
                    .collect(),
            ),
        }
    }

    /// Returns the mark tree in the shape Terraform's JSON plan uses for
    /// `after_unknown`: `true` where a value is unknown, nested lists and
    /// objects where something inside is, and `false` elsewhere.
    pub fn unknown_mask(&self) -> serde_json::Value {
        self.mask(&|value| matches!(value, Value::Unknown))
    }

    /// Returns the mark tree for sensitive values in the shape of Terraform's
    /// `before_sensitive` and `after_sensitive`.
    pub fn sensitive_mask(&self) -> serde_json::Value {
        self.mask(&|value| matches!(value, Value::Sensitive(_)))
    }

    fn mask(&self, marked: &dyn Fn(&Value) -> bool) -> serde_json::Value {
        if marked(self) {
            return serde_json::Value::Bool(true);
        }
        match self {
            Value::List(items) => {
                let masks: Vec<_> = items.iter().map(|item| item.mask(marked)).collect();
                if masks
                    .iter()
                    .all(|mask| mask == &serde_json::Value::Bool(false))
                {
                    serde_json::Value::Bool(false)
                } else {
                    serde_json::Value::Array(masks)
                }
            }
            Value::Map(map) => {
                let masks: serde_json::Map<_, _> = map
                    .iter()
                    .map(|(key, value)| (key.clone(), value.mask(marked)))
                    .filter(|(_, mask)| mask != &serde_json::Value::Bool(false))
                    .collect();
                if masks.is_empty() {
                    serde_json::Value::Bool(false)
                } else {
                    serde_json::Value::Object(masks)
                }
            }
            Value::Sensitive(inner) => inner.mask(marked),
            _ => serde_json::Value::Bool(false),
        }
    }

    /// Rebuilds a value from plain JSON and a sensitive mask produced by
    /// [`Value::sensitive_mask`], so values read back from state keep their
    /// sensitive marks.
    pub fn from_json_with_sensitive(json: &serde_json::Value, mask: &serde_json::Value) -> Value {
        match mask {
            serde_json::Value::Bool(true) => Value::sensitive(Value::from_json(json)),
            serde_json::Value::Object(marks) => match json {
                serde_json::Value::Object(map) => Value::Map(
                    map.iter()
                        .map(|(key, value)| {
                            let mark = marks.get(key).unwrap_or(&serde_json::Value::Bool(false));
                            (key.clone(), Value::from_json_with_sensitive(value, mark))
                        })
                        .collect(),
                ),
                other => Value::from_json(other),
            },
            serde_json::Value::Array(marks) => match json {
                serde_json::Value::Array(items) => Value::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(index, value)| {
                            let mark = marks.get(index).unwrap_or(&serde_json::Value::Bool(false));
                            Value::from_json_with_sensitive(value, mark)
                        })
                        .collect(),
                ),
                other => Value::from_json(other),
            },
            _ => Value::from_json(json),
        }
    }
}

fn number_to_json(number: f64) -> serde_json::Value {
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        serde_json::Value::from(number as i64)
    } else {
        serde_json::Number::from_f64(number)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

/// Formats a number the way HCL writes it: whole numbers without a fraction.
pub fn format_number(number: f64) -> String {
    let magnitude = number.abs();
    if number.fract() == 0.0 && magnitude < 1e15 {
        format!("{}", number as i64)
    } else if magnitude >= 1e21 || (magnitude != 0.0 && magnitude < 1e-6) {
        // Rust writes every digit of a float, so 1e300 would take 301
        // characters. The exponent form is valid HCL and JSON.
        format!("{number:e}")
    } else {
        format!("{number}")
    }
}

/// Replaces every sensitive string or number of `values` that appears in
/// `message` with `(sensitive value)`. Provider messages often quote the
/// value they reject, and the engine prints them.
pub fn redact_sensitive<'a>(message: &str, values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut secrets = Vec::new();
    for value in values {
        collect_secrets(value, false, &mut secrets);
    }
    // Longer secrets go first, so one that contains another is replaced
    // whole.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    let mut redacted = message.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        redacted = redacted.replace(secret.as_str(), "(sensitive value)");
    }
    redacted
}

fn collect_secrets(value: &Value, sensitive: bool, secrets: &mut Vec<String>) {
    match value {
        Value::Sensitive(inner) => collect_secrets(inner, true, secrets),
        Value::List(items) => items.iter().for_each(|item| collect_secrets(item, sensitive, secrets)),
        Value::Map(map) => map.values().for_each(|item| collect_secrets(item, sensitive, secrets)),
        Value::String(text) if sensitive => secrets.push(text.to_string()),
        Value::Number(number) if sensitive => secrets.push(format_number(*number)),
        _ => {}
    }
}

/// Returns true for an HCL identifier, which addresses and map keys carry
/// without quotes: a letter or underscore, then letters, digits, underscores
/// and dashes.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|rest| rest.is_ascii_alphanumeric() || rest == '_' || rest == '-')
}

impl fmt::Display for Value {
    /// Formats the value as an HCL literal; sensitive and unknown values print
    /// as placeholders and never show their data.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => formatter.write_str("null"),
            Value::Bool(flag) => write!(formatter, "{flag}"),
            Value::Number(number) => formatter.write_str(&format_number(*number)),
            Value::String(text) => write!(formatter, "{}", serde_json::Value::String(text.to_string())),
            Value::List(items) => {
                formatter.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(", ")?;
                    }
                    write!(formatter, "{item}")?;
                }
                formatter.write_str("]")
            }
            Value::Map(map) => {
                formatter.write_str("{")?;
                for (index, (key, value)) in map.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(", ")?;
                    }
                    if is_identifier(key) {
                        write!(formatter, "{key} = {value}")?;
                    } else {
                        write!(formatter, "{} = {value}", serde_json::Value::String(key.clone()))?;
                    }
                }
                formatter.write_str("}")
            }
            Value::Unknown => formatter.write_str("(known after apply)"),
            Value::Sensitive(_) => formatter.write_str("(sensitive value)"),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::string(text)
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::string(text)
    }
}

impl From<ArcStr> for Value {
    fn from(text: ArcStr) -> Self {
        Value::String(text)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Self {
        Value::Number(number)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Number(number as f64)
    }
}

/// Serializes as a tagged form that keeps both marks, for saved plan files.
/// State files use plain JSON plus masks instead (see [`Value::to_json`]).
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
enum TaggedValue {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Unknown,
    Sensitive(Box<Value>),
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tagged = match self.clone() {
            Value::Null => TaggedValue::Null,
            Value::Bool(flag) => TaggedValue::Bool(flag),
            Value::Number(number) => TaggedValue::Number(number),
            Value::String(text) => TaggedValue::String(text.to_string()),
            Value::List(items) => TaggedValue::List(items.into()),
            Value::Map(map) => TaggedValue::Map(map.into_inner()),
            Value::Unknown => TaggedValue::Unknown,
            Value::Sensitive(inner) => TaggedValue::Sensitive(inner),
        };
        tagged.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match TaggedValue::deserialize(deserializer)? {
            TaggedValue::Null => Value::Null,
            TaggedValue::Bool(flag) => Value::Bool(flag),
            TaggedValue::Number(number) => Value::Number(number),
            TaggedValue::String(text) => Value::string(text),
            TaggedValue::List(items) => Value::list(items),
            TaggedValue::Map(map) => Value::map(map),
            TaggedValue::Unknown => Value::Unknown,
            TaggedValue::Sensitive(inner) => Value::Sensitive(inner),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_values_match_nested() {
        let nested = || {
            let map = BTreeMap::from([("k".to_owned(), Value::list(vec![Value::Number(1.5), Value::Null]))]);
            Value::sensitive(Value::map(map))
        };

        assert!(nested().is_identical(&nested()));
        assert!(Value::Bool(true).is_identical(&Value::Bool(true)));
        assert!(!Value::Number(f64::NAN).is_identical(&Value::Number(1.0)));
        assert!(!Value::Unknown.is_identical(&Value::Unknown));
        assert!(!Value::string("a").is_identical(&Value::sensitive(Value::string("a"))));
        assert!(!Value::list(vec![Value::Null]).is_identical(&Value::list(vec![])));
    }

    #[test]
    fn value_map_empty_after_removal_equals_new() {
        let mut emptied = ValueMap::new();
        emptied.insert("key".to_owned(), Value::Null);
        emptied.remove("key");

        assert_eq!(emptied, ValueMap::new());
        assert_eq!(Value::Map(emptied), Value::map(BTreeMap::new()));
    }

    #[test]
    fn value_map_collects_and_iterates_in_key_order() {
        let map: ValueMap = [("b".to_owned(), Value::Bool(true)), ("a".to_owned(), Value::Null)].into_iter().collect();

        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let owned: BTreeMap<String, Value> = map.clone().into_inner();

        assert_eq!(keys, ["a", "b"]);
        assert_eq!(owned.len(), 2);
        assert_eq!(map.into_iter().next(), Some(("a".to_owned(), Value::Null)));
    }

    #[test]
    fn string_copies_share_their_text() {
        let value = Value::string("tenant-0001");
        let copy = value.clone();

        let (Value::String(left), Value::String(right)) = (&value, &copy) else {
            panic!("both values are strings");
        };
        assert!(ArcStr::ptr_eq(left, right));
    }

    #[test]
    fn sensitive_mask_marks_nested_secret() {
        let mut map = BTreeMap::new();
        map.insert("user".to_owned(), Value::string("acme"));
        map.insert(
            "password".to_owned(),
            Value::sensitive(Value::string("hunter2")),
        );
        let value = Value::map(map);

        assert_eq!(
            value.sensitive_mask(),
            serde_json::json!({"password": true})
        );
        assert_eq!(value.unknown_mask(), serde_json::json!(false));
    }

    #[test]
    fn json_with_mask_restores_marks() {
        let mut map = BTreeMap::new();
        map.insert(
            "password".to_owned(),
            Value::sensitive(Value::string("hunter2")),
        );
        map.insert("port".to_owned(), Value::Number(5432.0));
        let value = Value::map(map);

        let restored = Value::from_json_with_sensitive(&value.to_json(), &value.sensitive_mask());

        assert_eq!(restored, value);
    }

    #[test]
    fn display_quotes_keys_that_need_it() {
        let map = Value::map(BTreeMap::from([
            ("plain".to_owned(), Value::Number(1.0)),
            ("x = \"y\", z".to_owned(), Value::Number(2.0)),
            (String::new(), Value::Number(3.0)),
            ("\u{1b}[1m".to_owned(), Value::Number(4.0)),
        ]));

        let displayed = map.to_string();

        assert_eq!(displayed, r#"{"" = 3, "\u001b[1m" = 4, plain = 1, "x = \"y\", z" = 2}"#);
        assert!(!displayed.contains('\u{1b}'));
    }

    #[test]
    fn display_hides_sensitive_data() {
        let value = Value::list(vec![
            Value::sensitive(Value::string("hunter2")),
            Value::Unknown,
        ]);

        assert_eq!(
            value.to_string(),
            "[(sensitive value), (known after apply)]"
        );
    }

    #[test]
    fn tagged_serde_round_trips_marks() {
        let value = Value::list(vec![Value::Unknown, Value::sensitive(Value::Number(1.5))]);

        let text = serde_json::to_string(&value).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();

        assert_eq!(back, value);
    }

    #[test]
    fn redaction_hides_sensitive_data_in_messages() {
        let config = Value::map(BTreeMap::from([
            ("tenant_id".to_owned(), Value::sensitive(Value::string("hunter2XYZ"))),
            ("pin".to_owned(), Value::sensitive(Value::Number(4711.0))),
            ("region".to_owned(), Value::string("eu")),
        ]));

        let message = redact_sensitive("tenant_id \"hunter2XYZ\" with pin 4711 in eu is invalid", [&config]);

        assert_eq!(message, "tenant_id \"(sensitive value)\" with pin (sensitive value) in eu is invalid");
    }

    #[test]
    fn extreme_numbers_format_with_exponent() {
        assert_eq!(format_number(1e300), "1e300");
        assert_eq!(format_number(-2.5e-300), "-2.5e-300");
        assert_eq!(format_number(1e20), "100000000000000000000");
        assert_eq!(format_number(0.000_5), "0.0005");
    }

    #[test]
    fn whole_numbers_format_without_fraction() {
        assert_eq!(format_number(49.0), "49");
        assert_eq!(format_number(49.5), "49.5");
    }
}
