//! Shared strings: one copy of each distinct string of a state.
//!
//! State repeats many strings across its resources: a tenant's id in each
//! of its resources, a tier, a region, the times of one apply. A value's
//! string is reference counted, so equal strings can share one allocation,
//! and a table of the strings seen so far finds the copy to share.

use std::collections::HashSet;

use tenancy_sdk::{ArcStr, Attrs, Value};

/// The distinct strings of a state, each stored once.
#[derive(Default)]
pub struct StringTable(HashSet<ArcStr, foldhash::fast::RandomState>);

impl StringTable {
    /// Creates an empty table.
    pub fn new() -> StringTable {
        StringTable::default()
    }

    /// Returns the stored copy of `text`, storing it first when the table
    /// has none.
    pub fn get_or_insert(&mut self, text: &str) -> ArcStr {
        if let Some(found) = self.0.get(text) {
            return found.clone();
        }
        let stored = ArcStr::from(text);
        self.0.insert(stored.clone());
        stored
    }

    /// Stores the strings of `value` that the table does not have yet, so
    /// that equal strings found later share their allocations.
    pub fn insert_strings(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.insert(text),
            Value::List(items) => items.iter().for_each(|item| self.insert_strings(item)),
            Value::Map(map) => map.values().for_each(|item| self.insert_strings(item)),
            Value::Sensitive(inner) => self.insert_strings(inner),
            _ => {}
        }
    }

    /// Stores `text` unless the table has an equal string.
    pub fn insert(&mut self, text: &ArcStr) {
        if !self.0.contains(text.as_str()) {
            self.0.insert(text.clone());
        }
    }

    /// Returns a copy of `attrs` built on this thread, whose strings are
    /// the table's copies.
    pub fn copy_attrs(&mut self, attrs: &Attrs) -> Attrs {
        attrs.iter().map(|(name, value)| (*name, self.copy_value(value))).collect()
    }

    fn copy_value(&mut self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.get_or_insert(text)),
            Value::List(items) => Value::List(items.iter().map(|item| self.copy_value(item)).collect()),
            Value::Map(map) => Value::Map(map.iter().map(|(key, item)| (key.clone(), self.copy_value(item))).collect()),
            Value::Sensitive(inner) => Value::Sensitive(Box::new(self.copy_value(inner))),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn text(value: &Value) -> &ArcStr {
        match value.unmarked() {
            Value::String(text) => text,
            other => panic!("expected a string, found {other:?}"),
        }
    }

    #[test]
    fn copies_share_equal_strings() {
        let mut table = StringTable::new();
        let first: Attrs = [("id", Value::string("acme")), ("tier", Value::string("pro"))].into();
        let nested = Value::map(BTreeMap::from([("owner".to_owned(), Value::string("acme"))]));
        let second: Attrs = [
            ("tenant_id", Value::sensitive(Value::string("acme"))),
            ("tags", Value::list(vec![Value::string("pro")])),
            ("labels", nested),
        ]
        .into();

        let first_copy = table.copy_attrs(&first);
        let second_copy = table.copy_attrs(&second);

        assert_eq!(first_copy, first);
        assert_eq!(second_copy, second);
        assert!(!first_copy.shares_with(&first));
        assert!(!ArcStr::ptr_eq(text(&first_copy["id"]), text(&first["id"])));
        assert!(ArcStr::ptr_eq(text(&first_copy["id"]), text(&second_copy["tenant_id"])));
        assert!(ArcStr::ptr_eq(text(&first_copy["tier"]), text(&second_copy["tags"].as_list().unwrap()[0])));
        assert!(ArcStr::ptr_eq(text(&first_copy["id"]), text(&second_copy["labels"].as_map().unwrap()["owner"])));
        assert!(second_copy["tenant_id"].is_sensitive());
    }

    #[test]
    fn inserted_strings_are_shared() {
        let mut table = StringTable::new();
        let known = Value::list(vec![Value::sensitive(Value::string("acme"))]);
        table.insert_strings(&known);
        let attrs: Attrs = [("id", Value::string("acme")), ("labels", Value::map(BTreeMap::new()))].into();

        let copy = table.copy_attrs(&attrs);

        let stored = text(&known.as_list().unwrap()[0]);
        assert!(ArcStr::ptr_eq(text(&copy["id"]), stored));
        assert_eq!(copy["labels"], Value::map(BTreeMap::new()));
    }
}
