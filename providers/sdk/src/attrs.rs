//! Attribute sets: the attributes of one resource, keyed by name, shared
//! between their holders until one of them changes its copy.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// Attributes of one resource, keyed by attribute name.
///
/// A plan keeps the same attributes in several places: recorded state, the
/// read request that refreshes it, the refreshed resource and the plan's
/// prior and planned values. Clones therefore share one map, and a clone
/// costs a reference count. Reads go through [`Deref`] to the map. A write
/// through [`DerefMut`] first copies the map when another holder shares it
/// (copy on write), so every holder keeps a value of its own.
#[derive(Clone, Default)]
pub struct Attrs(Arc<BTreeMap<String, Value>>);

impl Attrs {
    /// Returns an empty attribute set.
    pub fn new() -> Attrs {
        Attrs::default()
    }

    /// Returns the map, copying it only when another holder shares it.
    pub fn into_map(self) -> BTreeMap<String, Value> {
        Arc::unwrap_or_clone(self.0)
    }

    /// Returns true when both sets share one map, so they are equal without
    /// a comparison of their values.
    pub fn shares_with(&self, other: &Attrs) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for Attrs {
    type Target = BTreeMap<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Attrs {
    fn deref_mut(&mut self) -> &mut Self::Target {
        Arc::make_mut(&mut self.0)
    }
}

impl PartialEq for Attrs {
    fn eq(&self, other: &Attrs) -> bool {
        self.shares_with(other) || *self.0 == *other.0
    }
}

impl PartialEq<BTreeMap<String, Value>> for Attrs {
    fn eq(&self, other: &BTreeMap<String, Value>) -> bool {
        *self.0 == *other
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

impl From<BTreeMap<String, Value>> for Attrs {
    fn from(map: BTreeMap<String, Value>) -> Attrs {
        Attrs(Arc::new(map))
    }
}

impl From<Attrs> for BTreeMap<String, Value> {
    fn from(attrs: Attrs) -> BTreeMap<String, Value> {
        attrs.into_map()
    }
}

impl<const N: usize> From<[(String, Value); N]> for Attrs {
    fn from(entries: [(String, Value); N]) -> Attrs {
        Attrs::from(BTreeMap::from(entries))
    }
}

impl FromIterator<(String, Value)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(entries: I) -> Attrs {
        Attrs::from(entries.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl Extend<(String, Value)> for Attrs {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, entries: I) {
        self.deref_mut().extend(entries);
    }
}

impl IntoIterator for Attrs {
    type Item = (String, Value);
    type IntoIter = btree_map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_map().into_iter()
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a String, &'a Value);
    type IntoIter = btree_map::Iter<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut Attrs {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = btree_map::IterMut<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.deref_mut().iter_mut()
    }
}

impl Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(deserializer).map(Attrs::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Attrs {
        Attrs::from([
            ("id".to_owned(), Value::string("acme")),
            ("size".to_owned(), Value::Number(1.0)),
        ])
    }

    #[test]
    fn clone_shares_the_map() {
        let original = sample();
        let copy = original.clone();

        assert!(copy.shares_with(&original));
    }

    #[test]
    fn write_copies_a_shared_map() {
        let original = sample();
        let mut copy = original.clone();

        copy.insert("size".to_owned(), Value::Number(2.0));

        assert!(!copy.shares_with(&original));
        assert_eq!(original["size"], Value::Number(1.0));
        assert_eq!(copy["size"], Value::Number(2.0));
    }

    #[test]
    fn equality_compares_values() {
        let left = sample();
        let right = sample();
        let changed = Attrs::from([("id".to_owned(), Value::string("other"))]);

        assert!(!left.shares_with(&right));
        assert_eq!(left, right);
        assert_ne!(left, changed);
    }

    #[test]
    fn serializes_as_a_plain_map() {
        let attrs = sample();

        let text = serde_json::to_string(&attrs).expect("attributes serialize");
        let back: Attrs = serde_json::from_str(&text).expect("attributes deserialize");

        assert_eq!(back, attrs);
        assert!(text.starts_with("{\"id\":"));
    }
}
