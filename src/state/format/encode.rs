//! Writing the state file straight from the state: the document is
//! serialized field by field into the output, without a JSON tree of it.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use tenancy_sdk::{ArcStr, Value};

use super::{FORMAT_VERSION, OutputRecord, check_depth, encode_output};
use crate::state::error::StateError;
use crate::state::model::{ResourceState, State};

/// Checks that the file can store `state` and returns its document, ready
/// to be written without the whole file taking memory at once.
pub(crate) fn encoder(state: &State) -> Result<EncodedState<'_>, StateError> {
    check_encodable(state)?;
    let mut outputs = BTreeMap::new();
    for (name, output) in &state.outputs {
        outputs.insert(name.as_str(), encode_output(name, output)?);
    }
    Ok(EncodedState { state, outputs })
}

/// Rejects a state that has a resource attribute the file cannot store: an
/// unknown value, or one nested deeper than
/// [`MAX_VALUE_DEPTH`](super::MAX_VALUE_DEPTH).
fn check_encodable(state: &State) -> Result<(), StateError> {
    for resource in state.resources.values() {
        for (name, value) in resource.attrs.iter() {
            if value.contains_unknown() {
                return Err(StateError::UnknownValue {
                    address: resource.address.to_string(),
                    attribute: name.to_string(),
                });
            }
            check_depth(&resource.address, name, value)?;
        }
    }
    Ok(())
}

/// The state file document, written straight from the state. Building
/// the document as a JSON tree first took about four times the size of
/// the file.
pub(crate) struct EncodedState<'a> {
    state: &'a State,
    outputs: BTreeMap<&'a str, OutputRecord>,
}

impl EncodedState<'_> {
    /// Writes the state file's bytes to `writer`, through a buffer.
    pub(crate) fn write_to(&self, writer: impl std::io::Write) -> std::io::Result<()> {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, writer);
        serde_json::to_writer_pretty(&mut buffered, self)?;
        buffered.write_all(b"\n")?;
        buffered.flush()
    }
}

impl Serialize for EncodedState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut document = serializer.serialize_struct("StateDocument", 6)?;
        document.serialize_field("format_version", &FORMAT_VERSION)?;
        document.serialize_field("tenancy_version", &self.state.tenancy_version)?;
        document.serialize_field("lineage", &self.state.lineage)?;
        document.serialize_field("serial", &self.state.serial)?;
        document.serialize_field("resources", &EncodedResources(&self.state.resources))?;
        document.serialize_field("outputs", &self.outputs)?;
        document.end()
    }
}

struct EncodedResources<'a>(&'a BTreeMap<ArcStr, ResourceState>);

impl Serialize for EncodedResources<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.values().map(EncodedResource))
    }
}

/// One resource in the fields and order of
/// [`ResourceRecord`](super::ResourceRecord).
struct EncodedResource<'a>(&'a ResourceState);

impl Serialize for EncodedResource<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let resource = self.0;
        let attributes = resource.attrs.iter().map(|(name, value)| (name, PlainJson(value)));
        let masks = resource
            .attrs
            .iter()
            .filter(|(_, value)| value.contains_sensitive())
            .map(|(name, value)| (name, value.sensitive_mask()));
        let mut record = serializer.serialize_struct("ResourceRecord", 6)?;
        record.serialize_field("address", &resource.address)?;
        record.serialize_field("type", &resource.type_name)?;
        record.serialize_field("provider", &resource.provider)?;
        record.serialize_field("attributes", &Entries(std::cell::Cell::new(Some(attributes))))?;
        record.serialize_field("sensitive_attributes", &Entries(std::cell::Cell::new(Some(masks))))?;
        record.serialize_field("dependencies", &resource.dependencies)?;
        record.end()
    }
}

/// Map entries serialized once from an iterator.
struct Entries<I>(std::cell::Cell<Option<I>>);

impl<K: Serialize, V: Serialize, I: Iterator<Item = (K, V)>> Serialize for Entries<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.take() {
            Some(entries) => serializer.collect_map(entries),
            None => Err(serde::ser::Error::custom("map entries serialized twice")),
        }
    }
}

/// A value written as plain JSON without marks, as [`Value::to_json`]
/// converts it.
struct PlainJson<'a>(&'a Value);

impl Serialize for PlainJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null | Value::Unknown => serializer.serialize_unit(),
            Value::Bool(flag) => serializer.serialize_bool(*flag),
            Value::Number(number) => {
                if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
                    serializer.serialize_i64(*number as i64)
                } else if number.is_finite() {
                    serializer.serialize_f64(*number)
                } else {
                    serializer.serialize_unit()
                }
            }
            Value::String(text) => serializer.serialize_str(text),
            Value::List(items) => serializer.collect_seq(items.iter().map(PlainJson)),
            Value::Map(map) => serializer.collect_map(map.iter().map(|(key, value)| (key, PlainJson(value)))),
            Value::Sensitive(inner) => PlainJson(inner).serialize(serializer),
        }
    }
}
