//! How the columns of a catalog row become a resource's attributes, and a
//! check that a row still contains a recorded attribute set.
//!
//! Each table lists its attributes as [`Field`]s, and reading a row builds
//! the attribute set from them. Refresh first compares the row with the set
//! that state records, straight from SQLite's column values. A row that
//! contains exactly the recorded values returns the recorded set itself, so
//! a refresh without drift builds no strings and no maps.

use std::fmt;

use rusqlite::Row;
use rusqlite::types::ValueRef;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use tenancy_sdk::{Attrs, Value};

use crate::attrs::{bool_value, integer_value, json_value, real_value, text_value};
use crate::tables::subscription::status_at_now;

/// The kind of one selected column, which sets how it reads as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The key column: text that is never null.
    Key(usize),
    /// Text, or null.
    Text(usize),
    /// A number stored as REAL or INTEGER, or null.
    Real(usize),
    /// A number stored as INTEGER, or null.
    Integer(usize),
    /// A 0/1 INTEGER read as a bool, or null.
    Bool(usize),
    /// JSON text read as a value, or null.
    Json(usize),
    /// A subscription's status, which follows from its `trial_ends_at`
    /// column and the current time.
    TrialStatus(usize),
}

/// One attribute of a catalog row: its name and the column it reads.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The attribute name.
    pub name: &'static str,
    /// The column, by position in the table's select list.
    pub column: Column,
}

impl Field {
    /// Returns the field for attribute `name`, read from `column`.
    pub const fn new(name: &'static str, column: Column) -> Field {
        Field { name, column }
    }
}

impl Column {
    /// Returns the position of the column in the select list.
    pub fn index(self) -> usize {
        match self {
            Column::Key(index)
            | Column::Text(index)
            | Column::Real(index)
            | Column::Integer(index)
            | Column::Bool(index)
            | Column::Json(index)
            | Column::TrialStatus(index) => index,
        }
    }

    /// Reads the column of `row` as a value.
    fn read(self, row: &Row<'_>) -> rusqlite::Result<Value> {
        Ok(match self {
            Column::Key(index) => Value::string(row.get::<_, String>(index)?),
            Column::Text(index) => text_value(row.get(index)?),
            Column::Real(index) => real_value(row.get(index)?),
            Column::Integer(index) => integer_value(row.get(index)?),
            Column::Bool(index) => bool_value(row.get(index)?),
            Column::Json(index) => json_value(row.get(index)?),
            Column::TrialStatus(index) => {
                let trial_ends_at: Option<String> = row.get(index)?;
                Value::string(status_at_now(trial_ends_at.as_deref()))
            }
        })
    }

    /// Returns true when [`Column::read`] would return a value equal to
    /// `expected`. An answer of false costs only a full read of the row,
    /// which the caller then makes.
    fn matches(self, row: &Row<'_>, expected: &Value) -> bool {
        let Ok(found) = row.get_ref(self.index()) else {
            return false;
        };
        match (self, found, expected) {
            (Column::Key(_), ValueRef::Text(text), Value::String(value))
            | (Column::Text(_), ValueRef::Text(text), Value::String(value)) => {
                text == value.as_bytes()
            }
            (
                Column::Text(_)
                | Column::Real(_)
                | Column::Integer(_)
                | Column::Bool(_)
                | Column::Json(_),
                ValueRef::Null,
                Value::Null,
            ) => true,
            (Column::Real(_), ValueRef::Real(number), Value::Number(value)) => number == *value,
            (
                Column::Real(_) | Column::Integer(_),
                ValueRef::Integer(number),
                Value::Number(value),
            ) => number as f64 == *value,
            (Column::Bool(_), ValueRef::Integer(flag), Value::Bool(value)) => (flag != 0) == *value,
            (Column::Json(_), ValueRef::Text(text), expected) => json_matches(text, expected),
            (Column::TrialStatus(_), ValueRef::Text(text), Value::String(value)) => {
                std::str::from_utf8(text).is_ok_and(|text| status_at_now(Some(text)) == value)
            }
            (Column::TrialStatus(_), ValueRef::Null, Value::String(value)) => {
                status_at_now(None) == value
            }
            _ => false,
        }
    }
}

/// Builds the attributes of `row` from `fields`.
pub fn build(row: &Row<'_>, fields: &[Field]) -> rusqlite::Result<Attrs> {
    fields
        .iter()
        .map(|field| Ok((field.name.to_owned(), field.column.read(row)?)))
        .collect()
}

/// Returns true when `row` contains exactly `recorded`: the attributes that
/// `fields` name, no others, each with an equal value and no marks.
/// `fields` must be sorted by name, as `recorded` is.
pub fn matches(row: &Row<'_>, fields: &[Field], recorded: &Attrs) -> bool {
    recorded.len() == fields.len()
        && recorded
            .iter()
            .zip(fields)
            .all(|((name, value), field)| name == field.name && field.column.matches(row, value))
}

/// Returns true when the JSON `text` reads as a value equal to `expected`,
/// as [`json_value`] reads it. Objects must list their keys in ascending
/// order, as the catalog writes them, so other orders return false.
fn json_matches(text: &[u8], expected: &Value) -> bool {
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Expected(expected).deserialize(&mut deserializer).is_ok() && deserializer.end().is_ok()
}

/// A seed that accepts only JSON equal to its value. A difference
/// is an error, so the walk stops at the first one.
struct Expected<'a>(&'a Value);

impl Expected<'_> {
    fn check<E: serde::de::Error>(equal: bool) -> Result<(), E> {
        if equal {
            Ok(())
        } else {
            Err(E::custom("differs"))
        }
    }

    fn number<E: serde::de::Error>(&self, number: f64) -> Result<(), E> {
        Self::check(matches!(self.0, Value::Number(value) if *value == number))
    }
}

impl<'de> DeserializeSeed<'de> for Expected<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Expected<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Self::check(matches!(self.0, Value::Null))
    }

    fn visit_bool<E: serde::de::Error>(self, flag: bool) -> Result<(), E> {
        Self::check(matches!(self.0, Value::Bool(value) if *value == flag))
    }

    fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<(), E> {
        self.number(number as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<(), E> {
        self.number(number as f64)
    }

    fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<(), E> {
        self.number(number)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<(), E> {
        Self::check(matches!(self.0, Value::String(value) if value == text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Value::List(items) = self.0 else {
            return Err(A::Error::custom("differs"));
        };
        for item in items {
            seq.next_element_seed(Expected(item))?
                .ok_or_else(|| A::Error::custom("differs"))?;
        }
        Self::check(seq.next_element::<IgnoredAny>()?.is_none())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Value::Map(entries) = self.0 else {
            return Err(A::Error::custom("differs"));
        };
        for (name, value) in entries {
            let key = map.next_key::<&str>()?;
            Self::check::<A::Error>(key == Some(name.as_str()))?;
            map.next_value_seed(Expected(value))?;
        }
        Self::check(map.next_key::<IgnoredAny>()?.is_none())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rusqlite::Connection;

    use super::*;

    const FIELDS: [Field; 6] = [
        Field::new("enabled", Column::Bool(2)),
        Field::new("id", Column::Key(0)),
        Field::new("labels", Column::Json(3)),
        Field::new("price", Column::Real(4)),
        Field::new("region", Column::Text(1)),
        Field::new("tenant_id", Column::Key(0)),
    ];

    /// Selects one row of literal columns and runs `check` on it.
    fn with_row<T>(select: &str, check: impl FnOnce(&Row<'_>) -> T) -> T {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .query_row(select, [], |row| Ok(check(row)))
            .unwrap()
    }

    const ROW: &str = r#"SELECT 'acme', 'eu', 1, '{"env":"prod","tags":["a",2,null,true]}', 49"#;

    fn recorded() -> Attrs {
        with_row(ROW, |row| build(row, &FIELDS).unwrap())
    }

    #[test]
    fn row_matches_its_own_attributes() {
        let attrs = recorded();

        assert_eq!(
            attrs["labels"].as_map().unwrap()["tags"]
                .as_list()
                .unwrap()
                .len(),
            4
        );
        assert!(with_row(ROW, |row| matches(row, &FIELDS, &attrs)));
    }

    #[test]
    fn changed_value_does_not_match() {
        let changes: [(&str, Value); 5] = [
            ("enabled", Value::Bool(false)),
            ("region", Value::Null),
            ("price", Value::Number(49.5)),
            ("labels", Value::map(BTreeMap::new())),
            ("id", Value::string("other")),
        ];
        for (name, value) in changes {
            let mut attrs = recorded();
            attrs.insert(name.to_owned(), value);

            assert!(
                !with_row(ROW, |row| matches(row, &FIELDS, &attrs)),
                "{name}"
            );
        }
    }

    #[test]
    fn marked_or_extra_attributes_differ() {
        let mut sensitive = recorded();
        sensitive.insert("region".to_owned(), Value::sensitive(Value::string("eu")));
        let mut extra = recorded();
        extra.insert("zone".to_owned(), Value::Null);
        let mut missing = recorded();
        missing.remove("price");

        for attrs in [sensitive, extra, missing] {
            assert!(!with_row(ROW, |row| matches(row, &FIELDS, &attrs)));
        }
    }

    #[test]
    fn json_matches_in_full() {
        let list = Value::list(vec![Value::string("a"), Value::Number(2.0)]);
        let map = recorded()["labels"].clone();

        assert!(json_matches(br#"["a", 2]"#, &list));
        assert!(json_matches(br#"["a",2.0]"#, &list));
        assert!(!json_matches(br#"["a"]"#, &list));
        assert!(!json_matches(br#"["a",2,3]"#, &list));
        assert!(!json_matches(br#"["a",2] x"#, &list));
        assert!(!json_matches(b"not json", &list));
        assert!(json_matches(
            br#"{"env":"prod","tags":["a",2,null,true]}"#,
            &map
        ));
        // Keys out of order or repeated read the slow way.
        assert!(!json_matches(
            br#"{"tags":["a",2,null,true],"env":"prod"}"#,
            &map
        ));
        assert!(!json_matches(
            br#"{"env":"prod","env":"prod","tags":[]}"#,
            &map
        ));
        assert!(json_matches(br#""caf\u00e9""#, &Value::string("café")));
    }

    #[test]
    fn numbers_match_across_storage_classes() {
        let price = |select: &str| {
            with_row(select, |row| {
                Column::Real(0).matches(row, &Value::Number(49.0))
            })
        };

        assert!(price("SELECT 49"));
        assert!(price("SELECT 49.0"));
        assert!(!price("SELECT '49'"));
        assert!(!with_row("SELECT 49.0", |row| Column::Integer(0)
            .matches(row, &Value::Number(49.0))));
    }
}
