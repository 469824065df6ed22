//! Attribute sets: the attributes of one resource, keyed by name, shared
//! between their holders until one of them changes its copy.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Index;
use std::sync::{Arc, LazyLock};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::value::Value;

/// One attribute: its name and its value.
type Entry = (Name, Value);

/// Attributes of one resource, keyed by attribute name.
///
/// The entries sit in one shared slice sorted by name, in the same
/// allocation as its reference counts, and their names are interned. A
/// resource of eleven attributes takes 456 bytes, where a B-tree map took
/// a 632-byte node plus a string per name. Lookups search the sorted entries, and iteration yields them in name
/// order.
///
/// A plan keeps the same attributes in several places: recorded state, the
/// read request that refreshes it, the refreshed resource and the plan's
/// prior and planned values. Clones therefore share one vector, and a clone
/// costs a reference count. A write first copies the vector when another
/// holder shares it (copy on write), so every holder keeps a value of its
/// own. A write that adds or removes an attribute builds a new slice.
#[derive(Clone)]
pub struct Attrs(Arc<[Entry]>);

/// Returns the slice that every empty set shares.
fn empty_entries() -> Arc<[Entry]> {
    static EMPTY: LazyLock<Arc<[Entry]>> = LazyLock::new(|| Arc::from(Vec::new()));
    Arc::clone(&EMPTY)
}

/// Moves an entry out of a slice that is about to be dropped.
fn take_entry(entry: &mut Entry) -> Entry {
    (entry.0, std::mem::take(&mut entry.1))
}

impl Default for Attrs {
    /// Returns an empty set. Empty sets share one allocation, so an empty
    /// set left behind by [`std::mem::take`] costs a reference count.
    fn default() -> Attrs {
        Attrs(empty_entries())
    }
}

impl Attrs {
    /// Returns an empty attribute set.
    pub fn new() -> Attrs {
        Attrs::default()
    }

    /// Returns the number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns true when the set has no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns the value of an attribute.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|position| &self.0[position].1)
    }

    /// Returns the value of an attribute for writing, copying a shared set.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        let position = self.position(name).ok()?;
        Some(&mut self.entries_mut()[position].1)
    }

    /// Returns true when the set has an attribute of this name.
    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets an attribute and returns its previous value, if it had one.
    pub fn insert(&mut self, name: impl Into<Name>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.position(&name) {
            Ok(position) => Some(std::mem::replace(
                &mut self.entries_mut()[position].1,
                value,
            )),
            Err(position) => {
                self.insert_at(position, (name, value));
                None
            }
        }
    }

    /// Sets an attribute unless the set has it already, and returns the
    /// value the set then has.
    pub fn get_or_insert(&mut self, name: impl Into<Name>, value: Value) -> &mut Value {
        let name = name.into();
        let position = match self.position(&name) {
            Ok(position) => position,
            Err(position) => {
                self.insert_at(position, (name, value));
                position
            }
        };
        &mut self.entries_mut()[position].1
    }

    /// Removes an attribute and returns its value, if it had one.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let position = self.position(name).ok()?;
        let mut entries = self.take_entries();
        let (_, value) = entries.remove(position);
        self.0 = Arc::from(entries);
        Some(value)
    }

    /// Keeps only the attributes for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Name, &mut Value) -> bool) {
        let mut entries = self.take_entries();
        entries.retain_mut(|(name, value)| keep(name, value));
        self.0 = Arc::from(entries);
    }

    /// Returns the attributes in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.0.iter())
    }

    /// Returns the attributes in name order, with values for writing.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.entries_mut().iter_mut())
    }

    /// Returns the attribute names in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Name> + ExactSizeIterator {
        self.0.iter().map(|(name, _)| name)
    }

    /// Returns the attribute values in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.0.iter().map(|(_, value)| value)
    }

    /// Returns the attribute values in name order, for writing.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries_mut().iter_mut().map(|(_, value)| value)
    }

    /// Returns the attributes as a map from name to value, for a nested
    /// map value or a caller that needs one.
    pub fn into_map(self) -> BTreeMap<String, Value> {
        self.into_iter()
            .map(|(name, value)| (String::from(name), value))
            .collect()
    }

    /// Returns true when both sets share one slice, so they are equal
    /// without a comparison of their values.
    pub fn shares_with(&self, other: &Attrs) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Returns the positions in this set of the entries of `subset`, as the
    /// bits of a mask, when this set has at most 64 entries and contains
    /// each entry of `subset` with an identical value
    /// ([`Value::is_identical`]).
    pub fn subset_mask(&self, subset: &Attrs) -> Option<u64> {
        if self.0.len() > 64 {
            return None;
        }
        let mut mask = 0;
        let mut position = 0;
        for (name, value) in subset.iter() {
            // Both sets are sorted by name, so each entry of `subset` can
            // only be found after the one before it.
            while self.0.get(position)?.0 != *name {
                position += 1;
            }
            if !self.0[position].1.is_identical(value) {
                return None;
            }
            mask |= 1 << position;
            position += 1;
        }
        Some(mask)
    }

    /// Returns a new set of the entries at the positions whose bits are set
    /// in `mask`, as [`Attrs::subset_mask`] returns it.
    pub fn select(&self, mask: u64) -> Attrs {
        let selected = self.0.iter().enumerate().filter(|(position, _)| *position < 64 && mask & (1 << position) != 0);
        let entries: Vec<Entry> = selected.map(|(_, entry)| entry.clone()).collect();
        Attrs(Arc::from(entries))
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.as_str().cmp(name))
    }

    /// Inserts an entry at `position`: the set gets a new slice one entry
    /// longer, built in one allocation.
    fn insert_at(&mut self, position: usize, entry: Entry) {
        let mut old = std::mem::replace(&mut self.0, empty_entries());
        self.0 = match Arc::get_mut(&mut old) {
            Some(unique) => {
                let (before, after) = unique.split_at_mut(position);
                let before = before.iter_mut().map(take_entry);
                before.chain([entry]).chain(after.iter_mut().map(take_entry)).collect()
            }
            None => {
                let (before, after) = old.split_at(position);
                let before = before.iter().cloned();
                before.chain([entry]).chain(after.iter().cloned()).collect()
            }
        };
    }

    fn entries_mut(&mut self) -> &mut [Entry] {
        Arc::make_mut(&mut self.0)
    }

    /// Takes the entries out of the set, leaving it empty. Entries that no
    /// other holder shares move without a copy of their values.
    fn take_entries(&mut self) -> Vec<Entry> {
        let mut entries = std::mem::replace(&mut self.0, empty_entries());
        match Arc::get_mut(&mut entries) {
            Some(unique) => unique.iter_mut().map(take_entry).collect(),
            None => entries.to_vec(),
        }
    }

    /// Builds a set from entries in any order. Of entries with one name,
    /// the last one stays, as inserting them one by one would leave it.
    fn from_entries(mut entries: Vec<Entry>) -> Attrs {
        let sorted = entries.windows(2).all(|pair| pair[0].0 < pair[1].0);
        if !sorted {
            // Reversed, a stable sort puts the last entry of each name first,
            // and `dedup_by` keeps the first of each run.
            entries.reverse();
            entries.sort_by_key(|entry| entry.0);
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        Attrs(Arc::from(entries))
    }
}

/// An iterator over the attributes of a set, in name order.
#[derive(Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, Entry>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Name, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, value)| (name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(name, value)| (name, value))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// An iterator over the attributes of a set, with values for writing.
pub struct IterMut<'a>(std::slice::IterMut<'a, Entry>);

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a Name, &'a mut Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, value)| (&*name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for IterMut<'_> {}

impl Index<&str> for Attrs {
    type Output = Value;

    /// Returns the value of an attribute.
    ///
    /// # Panics
    ///
    /// Panics when the set has no attribute of this name.
    fn index(&self, name: &str) -> &Value {
        self.get(name)
            .unwrap_or_else(|| panic!("no attribute `{name}`"))
    }
}

impl PartialEq for Attrs {
    fn eq(&self, other: &Attrs) -> bool {
        self.shares_with(other) || *self.0 == *other.0
    }
}

impl PartialEq<BTreeMap<String, Value>> for Attrs {
    fn eq(&self, other: &BTreeMap<String, Value>) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other)
                .all(|((name, value), (other_name, other_value))| {
                    name == other_name && value == other_value
                })
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_map().entries(self.iter()).finish()
    }
}

impl From<BTreeMap<String, Value>> for Attrs {
    fn from(map: BTreeMap<String, Value>) -> Attrs {
        // A map iterates in name order already, and its exact length sizes
        // the vector.
        let entries: Vec<Entry> = map
            .into_iter()
            .map(|(name, value)| (Name::new(&name), value))
            .collect();
        Attrs(Arc::from(entries))
    }
}

impl From<Attrs> for BTreeMap<String, Value> {
    fn from(attrs: Attrs) -> BTreeMap<String, Value> {
        attrs.into_map()
    }
}

impl<K: Into<Name>, const N: usize> From<[(K, Value); N]> for Attrs {
    fn from(entries: [(K, Value); N]) -> Attrs {
        entries.into_iter().collect()
    }
}

impl<K: Into<Name>> FromIterator<(K, Value)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(entries: I) -> Attrs {
        Attrs::from_entries(
            entries
                .into_iter()
                .map(|(name, value)| (name.into(), value))
                .collect(),
        )
    }
}

impl<K: Into<Name>> Extend<(K, Value)> for Attrs {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, entries: I) {
        let mut all = self.take_entries();
        all.extend(
            entries
                .into_iter()
                .map(|(name, value)| (name.into(), value)),
        );
        *self = Attrs::from_entries(all);
    }
}

impl IntoIterator for Attrs {
    type Item = (Name, Value);
    type IntoIter = std::vec::IntoIter<Entry>;

    fn into_iter(mut self) -> Self::IntoIter {
        self.take_entries().into_iter()
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a Name, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Attrs {
    type Item = (&'a Name, &'a mut Value);
    type IntoIter = IterMut<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self {
            map.serialize_entry(name.as_str(), value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AttrsVisitor;

        impl<'de> Visitor<'de> for AttrsVisitor {
            type Value = Attrs;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a map of attribute names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attrs, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((name, value)) = map.next_entry::<Name, Value>()? {
                    entries.push((name, value));
                }
                Ok(Attrs::from_entries(entries))
            }
        }

        deserializer.deserialize_map(AttrsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Attrs {
        Attrs::from([("id", Value::string("acme")), ("size", Value::Number(1.0))])
    }

    #[test]
    fn subset_mask_selects_identical_entries() {
        let recorded = Attrs::from([
            ("created_at", Value::string("2026-12-05T10:00:00Z")),
            ("id", Value::string("acme")),
            ("size", Value::Number(1.0)),
        ]);

        let mask = recorded.subset_mask(&sample()).unwrap();

        assert_eq!(mask, 0b110);
        assert_eq!(recorded.select(mask), sample());
        assert_eq!(recorded.select(0), Attrs::new());
    }

    #[test]
    fn subset_mask_rejects_differences() {
        let recorded = sample();
        let other_value = Attrs::from([("id", Value::string("other"))]);
        let missing = Attrs::from([("region", Value::string("eu"))]);
        let negative_zero = Attrs::from([("size", Value::Number(-0.0))]);
        let zero = Attrs::from([("size", Value::Number(0.0))]);
        let unknown = Attrs::from([("id", Value::Unknown)]);
        let marked = Attrs::from([("id", Value::sensitive(Value::string("acme")))]);

        assert_eq!(recorded.subset_mask(&other_value), None);
        assert_eq!(recorded.subset_mask(&missing), None);
        assert_eq!(zero.subset_mask(&negative_zero), None);
        assert_eq!(unknown.subset_mask(&unknown), None);
        assert_eq!(recorded.subset_mask(&marked), None);
    }

    #[test]
    fn subset_mask_skips_sets_over_64_entries() {
        let large: Attrs = (0..65).map(|index| (format!("a{index:02}"), Value::Null)).collect();
        let first = Attrs::from([("a00", Value::Null)]);

        assert_eq!(large.subset_mask(&first), None);
    }

    #[test]
    fn clone_shares_the_entries() {
        let original = sample();
        let copy = original.clone();

        assert!(copy.shares_with(&original));
    }

    #[test]
    fn write_copies_shared_entries() {
        let original = sample();
        let mut copy = original.clone();

        copy.insert("size", Value::Number(2.0));

        assert!(!copy.shares_with(&original));
        assert_eq!(original["size"], Value::Number(1.0));
        assert_eq!(copy["size"], Value::Number(2.0));
    }

    #[test]
    fn equality_compares_values() {
        let left = sample();
        let right = sample();
        let changed = Attrs::from([("id", Value::string("other"))]);

        assert!(!left.shares_with(&right));
        assert_eq!(left, right);
        assert_ne!(left, changed);
    }

    #[test]
    fn entries_stay_in_name_order() {
        let mut attrs = Attrs::new();
        attrs.insert("tier", Value::string("pro"));
        attrs.insert("id", Value::string("acme"));
        attrs.insert("labels", Value::Null);

        let names: Vec<&str> = attrs.keys().map(Name::as_str).collect();

        assert_eq!(names, ["id", "labels", "tier"]);
    }

    #[test]
    fn insert_replaces_and_returns_the_old_value() {
        let mut attrs = sample();

        let previous = attrs.insert("id", Value::string("globex"));

        assert_eq!(previous, Some(Value::string("acme")));
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs["id"], Value::string("globex"));
    }

    #[test]
    fn collect_keeps_the_last_of_repeated_names() {
        let attrs: Attrs = [
            ("size", Value::Number(1.0)),
            ("id", Value::string("first")),
            ("size", Value::Number(2.0)),
            ("id", Value::string("last")),
        ]
        .into_iter()
        .collect();

        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs["id"], Value::string("last"));
        assert_eq!(attrs["size"], Value::Number(2.0));
    }

    #[test]
    fn remove_and_retain_drop_entries() {
        let mut attrs = sample();
        attrs.insert("zone", Value::string("a"));

        assert_eq!(attrs.remove("id"), Some(Value::string("acme")));
        assert_eq!(attrs.remove("id"), None);
        attrs.retain(|name, _| name != "zone");

        let names: Vec<&str> = attrs.keys().map(Name::as_str).collect();
        assert_eq!(names, ["size"]);
    }

    #[test]
    fn missing_attribute_reads_as_none() {
        let attrs = sample();

        assert_eq!(attrs.get("absent"), None);
        assert!(!attrs.contains_key("absent"));
        assert!(attrs.contains_key("id"));
    }

    #[test]
    fn converts_to_and_from_a_map() {
        let attrs = sample();

        let map = attrs.clone().into_map();
        let back = Attrs::from(map.clone());

        assert_eq!(back, attrs);
        assert_eq!(attrs, map);
    }

    #[test]
    fn serializes_as_a_map_in_name_order() {
        let attrs = sample();

        let text = serde_json::to_string(&attrs).expect("attributes serialize");
        let back: Attrs = serde_json::from_str(&text).expect("attributes deserialize");

        assert_eq!(back, attrs);
        assert!(text.starts_with("{\"id\":"));
    }

    #[test]
    fn deserializes_unsorted_names_in_order() {
        let json = |value: Value| serde_json::to_string(&value).expect("value serializes");
        let text = format!(
            "{{\"b\":{},\"a\":{},\"b\":{}}}",
            json(Value::Number(1.0)),
            json(Value::Number(2.0)),
            json(Value::Number(3.0))
        );

        let attrs: Attrs = serde_json::from_str(&text).expect("attributes deserialize");

        let names: Vec<&str> = attrs.keys().map(Name::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(attrs["b"], Value::Number(3.0));
    }
}
