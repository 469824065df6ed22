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
        self.record(value);
    }

    /// Stores `text` unless the table has an equal string.
    pub fn insert(&mut self, text: &ArcStr) {
        if !self.0.contains(text.as_str()) {
            self.0.insert(text.clone());
        }
    }

    /// Returns the number of distinct strings stored.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns true when the table stores no string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replaces each string in `attrs` with the table's copy of it, storing
    /// the strings the table does not have yet.
    ///
    /// The attributes are written only when one of their strings has
    /// another copy in the table, so a set that other holders share is
    /// copied only then.
    pub fn share_attrs(&mut self, attrs: &mut Attrs) {
        if self.record_all(attrs.values()) {
            for value in attrs.values_mut() {
                self.share(value);
            }
        }
    }

    /// Stores the strings of `value` that the table does not have, and
    /// returns true when one of them has another copy in the table.
    fn record(&mut self, value: &Value) -> bool {
        match value {
            Value::String(text) => match self.0.get(text.as_str()) {
                Some(found) => !ArcStr::ptr_eq(found, text),
                None => {
                    self.0.insert(text.clone());
                    false
                }
            },
            Value::List(items) => self.record_all(items.iter()),
            Value::Map(map) => self.record_all(map.values()),
            Value::Sensitive(inner) => self.record(inner),
            _ => false,
        }
    }

    /// Runs [`StringTable::record`] on every value, and returns true when
    /// it returned true for one of them.
    fn record_all<'a>(&mut self, values: impl Iterator<Item = &'a Value>) -> bool {
        let mut replace = false;
        for value in values {
            replace |= self.record(value);
        }
        replace
    }

    /// Replaces each string of `value` with the table's copy.
    fn share(&mut self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.get_or_insert(text),
            Value::List(items) => items.iter_mut().for_each(|item| self.share(item)),
            // Writing to an empty map would allocate its entries.
            Value::Map(map) if !map.is_empty() => map.values_mut().for_each(|item| self.share(item)),
            Value::Sensitive(inner) => self.share(inner),
            _ => {}
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
    fn equal_strings_share_one_copy() {
        let mut table = StringTable::new();
        let mut first: Attrs = [("id", Value::string("acme")), ("tier", Value::string("pro"))].into();
        let nested = Value::map(BTreeMap::from([("owner".to_owned(), Value::string("acme"))]));
        let mut second: Attrs = [
            ("tenant_id", Value::sensitive(Value::string("acme"))),
            ("tags", Value::list(vec![Value::string("pro")])),
            ("labels", nested),
        ]
        .into();

        table.share_attrs(&mut first);
        table.share_attrs(&mut second);

        assert!(ArcStr::ptr_eq(text(&first["id"]), text(&second["tenant_id"])));
        assert!(ArcStr::ptr_eq(text(&first["tier"]), text(&second["tags"].as_list().unwrap()[0])));
        assert!(ArcStr::ptr_eq(text(&first["id"]), text(&second["labels"].as_map().unwrap()["owner"])));
        assert!(second["tenant_id"].is_sensitive());
    }

    #[test]
    fn attrs_without_repeats_stay_shared() {
        let mut table = StringTable::new();
        let mut attrs: Attrs = [("id", Value::string("acme")), ("labels", Value::map(BTreeMap::new()))].into();
        let holder = attrs.clone();

        table.share_attrs(&mut attrs);

        assert!(attrs.shares_with(&holder));
        assert_eq!(attrs["labels"], Value::map(BTreeMap::new()));
    }
}
