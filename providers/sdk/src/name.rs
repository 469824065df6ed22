//! Attribute names: interned strings that every attribute set shares.
//!
//! A plan of 100,000 resources contains over a million attribute entries, but
//! only a few dozen distinct names. Each distinct name is stored once for
//! the life of the process, and an entry keeps an 8-byte pointer to it
//! instead of a string of its own.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// The name of an attribute, such as `tenant_id`.
///
/// Names compare, order and hash as their text, so a name read from a state
/// file equals the same name written in a schema.
///
/// A name is a thin pointer to the stored text's own reference, so an
/// attribute entry takes 8 bytes for its name where a `&str` takes 16.
#[derive(Clone, Copy)]
pub struct Name(&'static &'static str);

impl Name {
    /// Returns the name with this text, stored once for the process.
    pub fn new(text: &str) -> Name {
        Name(intern(text, |text| Box::leak(Box::from(text))))
    }

    /// Returns a name for static text, such as a schema's attribute name,
    /// without storing a copy of the text.
    pub fn from_static(text: &'static str) -> Name {
        Name(intern(text, |_| text))
    }

    /// Returns the text of the name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// The stored names by text.
type Table = HashMap<&'static str, &'static &'static str, foldhash::fast::FixedState>;

/// Every name interned so far.
static NAMES: Mutex<Option<Table>> = Mutex::new(None);

thread_local! {
    /// The names this thread has interned, so a repeated name takes no lock.
    static SEEN: RefCell<Table> = RefCell::new(HashMap::default());
}

/// Returns the stored reference to `text`, storing it on first use with
/// the text that `store` returns.
///
/// NOTE: stored names are never freed. Names come from schemas, from the
/// configuration and from state files, so a process stores at most the
/// distinct names of what it read. A state file with many made-up names
/// therefore costs memory in proportion to its size.
fn intern(text: &str, store: impl FnOnce(&str) -> &'static str) -> &'static &'static str {
    let seen = SEEN.try_with(|seen| seen.borrow().get(text).copied());
    if let Ok(Some(name)) = seen {
        return name;
    }

    let name = {
        let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
        let names = names.get_or_insert_with(HashMap::default);
        match names.get(text) {
            Some(&name) => name,
            None => {
                let stored: &'static str = store(text);
                let name: &'static &'static str = Box::leak(Box::new(stored));
                names.insert(stored, name);
                name
            }
        }
    };
    // A thread that is shutting down has no cache left, so it takes the lock.
    let _ = SEEN.try_with(|seen| seen.borrow_mut().insert(*name, name));
    name
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        std::ptr::eq(self.0, other.0) || *self.0 == *other.0
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd<str> for Name {
    fn partial_cmp(&self, other: &str) -> Option<Ordering> {
        Some(self.as_str().cmp(other))
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours a width such as `{name:8}`, as `str` does.
        formatter.pad(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), formatter)
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::new(&text)
    }
}

impl From<&String> for Name {
    fn from(text: &String) -> Name {
        Name::new(text)
    }
}

impl From<&Name> for Name {
    fn from(name: &Name) -> Name {
        *name
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.as_str().to_owned()
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;

        impl serde::de::Visitor<'_> for NameVisitor {
            type Value = Name;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Name, E> {
                Ok(Name::new(text))
            }
        }

        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_shares_one_copy() {
        let first = Name::new("tenant_id");
        let second = Name::new(&String::from("tenant_id"));

        assert_eq!(first, second);
        assert!(std::ptr::eq(first.as_str(), second.as_str()));
    }

    #[test]
    fn threads_share_one_copy() {
        let main_thread = Name::new("billing_cycle");
        let other_thread = std::thread::spawn(|| Name::new("billing_cycle").as_str())
            .join()
            .expect("thread finishes");

        assert!(std::ptr::eq(main_thread.as_str(), other_thread));
    }

    #[test]
    fn static_name_equals_interned_name() {
        let schema = Name::from_static("region");
        let read = Name::new("region");

        assert_eq!(schema, read);
        assert_eq!(schema.cmp(&read), Ordering::Equal);
        assert_eq!(schema, "region");
    }

    #[test]
    fn name_takes_one_pointer() {
        assert_eq!(std::mem::size_of::<Name>(), std::mem::size_of::<usize>());
        let entry = std::mem::size_of::<Name>() + std::mem::size_of::<crate::Value>();
        assert_eq!(std::mem::size_of::<(Name, crate::Value)>(), entry);
    }

    #[test]
    fn names_order_as_text() {
        let mut names = [Name::new("tier"), Name::new("id"), Name::new("labels")];

        names.sort();

        let texts: Vec<&str> = names.iter().map(Name::as_str).collect();
        assert_eq!(texts, ["id", "labels", "tier"]);
    }

    #[test]
    fn display_honours_width() {
        let name = Name::new("id");

        assert_eq!(format!("[{name:4}]"), "[id  ]");
    }

    #[test]
    fn name_round_trips_through_json() {
        let name = Name::new("display_name");

        let text = serde_json::to_string(&name).expect("name serializes");
        let back: Name = serde_json::from_str(&text).expect("name deserializes");

        assert_eq!(text, "\"display_name\"");
        assert_eq!(back, name);
    }
}
