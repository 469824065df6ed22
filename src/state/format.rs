//! The state file format: versioned JSON, apart from the in-memory model.
//!
//! A state file is one JSON object:
//!
//! ```json
//! {
//!   "format_version": 1,
//!   "tenancy_version": "0.1.0",
//!   "lineage": "3f0c…",
//!   "serial": 4,
//!   "resources": [
//!     {
//!       "address": "tenant.acme",
//!       "type": "catalog_tenant",
//!       "provider": "sqlite",
//!       "attributes": { "id": "acme", "api_key": "…" },
//!       "sensitive_attributes": { "api_key": true },
//!       "dependencies": []
//!     }
//!   ],
//!   "outputs": { "acme_url": { "value": "…", "sensitive": false } }
//! }
//! ```
//!
//! Attribute values are plain JSON. The sensitive marks travel beside them
//! as a mask in the shape of [`Value::sensitive_mask`], so reading a file
//! restores every mark. Resources are sorted by address and every object's
//! keys are written in a fixed order, so the same state always produces the
//! same bytes. `schemas/state.schema.json` describes the format.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tenancy_sdk::{ArcStr, Attrs, Name, ThinVec, Value};

use crate::state::error::StateError;
use crate::state::model::{OutputState, ResourceState, State};
use crate::state::strings::StringTable;

mod encode;

pub(crate) use encode::encoder;

/// The format version this build writes and the newest one it reads.
pub const FORMAT_VERSION: u64 = 1;

/// The deepest nesting of lists and maps that state records in one value.
/// The JSON reader stops at 128 levels for the whole document, and a value
/// sits a few levels down in it, so this leaves room.
pub const MAX_VALUE_DEPTH: usize = 100;

/// Rejects a value that nests deeper than [`MAX_VALUE_DEPTH`], which the
/// state file could store but not read back.
pub fn check_depth(address: &str, attribute: &str, value: &Value) -> Result<(), StateError> {
    let depth = value.depth();
    if depth > MAX_VALUE_DEPTH {
        return Err(StateError::TooDeep {
            address: address.to_owned(),
            attribute: attribute.to_owned(),
            depth,
            max: MAX_VALUE_DEPTH,
        });
    }
    Ok(())
}

/// One resource as the state file and the journal store it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRecord {
    /// The resource address.
    pub address: String,
    /// The resource type.
    #[serde(rename = "type")]
    pub type_name: Name,
    /// The provider instance name.
    pub provider: Name,
    /// Attribute values as plain JSON, without marks.
    pub attributes: Map<String, Json>,
    /// Sensitive masks of the attributes that contain a sensitive value.
    pub sensitive_attributes: Map<String, Json>,
    /// Addresses of the resources this one depends on.
    pub dependencies: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDocument {
    format_version: u64,
    tenancy_version: String,
    lineage: String,
    serial: u64,
    resources: Vec<Json>,
    outputs: BTreeMap<String, OutputRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputRecord {
    value: Json,
    sensitive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sensitive_values: Option<Json>,
}

impl ResourceRecord {
    /// Converts a resource to its file form, rejecting unknown values.
    pub fn from_resource(resource: &ResourceState) -> Result<Self, StateError> {
        let mut attributes = Map::new();
        let mut sensitive_attributes = Map::new();
        for (name, value) in &resource.attrs {
            if value.contains_unknown() {
                return Err(StateError::UnknownValue {
                    address: resource.address.to_string(),
                    attribute: name.to_string(),
                });
            }
            check_depth(&resource.address, name, value)?;
            attributes.insert(name.to_string(), value.to_json());
            let mask = value.sensitive_mask();
            if mask != Json::Bool(false) {
                sensitive_attributes.insert(name.to_string(), mask);
            }
        }
        Ok(ResourceRecord {
            address: resource.address.to_string(),
            type_name: resource.type_name,
            provider: resource.provider,
            attributes,
            sensitive_attributes,
            dependencies: resource.dependencies.iter().map(ArcStr::to_string).collect(),
        })
    }

    /// Converts the file form back to a resource, restoring sensitive marks.
    pub fn into_resource(self) -> ResourceState {
        let unmarked = Json::Bool(false);
        let attrs: Attrs = self
            .attributes
            .iter()
            .map(|(name, json)| {
                let mask = self.sensitive_attributes.get(name).unwrap_or(&unmarked);
                (name.clone(), Value::from_json_with_sensitive(json, mask))
            })
            .collect();
        ResourceState {
            address: self.address.into(),
            type_name: self.type_name,
            provider: self.provider,
            attrs,
            dependencies: self.dependencies.into_iter().map(ArcStr::from).collect(),
        }
    }

    /// Checks what serde cannot: a non-empty address and well-formed masks.
    pub fn validate(&self) -> Result<(), String> {
        if self.address.is_empty() {
            return Err("a resource has an empty address".to_owned());
        }
        for (name, mask) in &self.sensitive_attributes {
            if !is_mask(mask) {
                return Err(format!(
                    "resource `{}` has an invalid sensitive mask for attribute `{name}`: \
                     expected true, false, an array or an object of masks",
                    self.address
                ));
            }
        }
        Ok(())
    }
}

/// Encodes a state as the bytes of a state file.
pub fn encode(state: &State) -> Result<Vec<u8>, StateError> {
    let mut bytes = Vec::new();
    encoder(state)?.write_to(&mut bytes).expect("a state document is valid JSON");
    Ok(bytes)
}

/// Returns the state file document of a state as a JSON value; sensitive
/// values appear in plain text beside their masks, as in the file.
pub fn to_json(state: &State) -> Result<Json, StateError> {
    Ok(serde_json::to_value(to_document(state)?).expect("a state document is valid JSON"))
}

fn to_document(state: &State) -> Result<StateDocument, StateError> {
    let mut resources = Vec::with_capacity(state.resources.len());
    for resource in state.resources.values() {
        let record = ResourceRecord::from_resource(resource)?;
        resources.push(serde_json::to_value(record).expect("a resource record is valid JSON"));
    }
    let mut outputs = BTreeMap::new();
    for (name, output) in &state.outputs {
        outputs.insert(name.clone(), encode_output(name, output)?);
    }
    Ok(StateDocument {
        format_version: FORMAT_VERSION,
        tenancy_version: state.tenancy_version.clone(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        resources,
        outputs,
    })
}

fn encode_output(name: &str, output: &OutputState) -> Result<OutputRecord, StateError> {
    check_depth(&format!("output.{name}"), "value", &output.value)?;
    if output.value.contains_unknown() {
        return Err(StateError::UnknownValue {
            address: format!("output.{name}"),
            attribute: "value".to_owned(),
        });
    }
    let mask = output.value.sensitive_mask();
    Ok(OutputRecord {
        value: output.value.to_json(),
        sensitive: output.sensitive,
        sensitive_values: (mask != Json::Bool(false)).then_some(mask),
    })
}

/// Decodes the bytes of a state file; `path` names the file in errors.
pub fn decode(bytes: &[u8], path: &str) -> Result<State, StateError> {
    let damaged = |reason: String| StateError::Damaged {
        path: path.to_owned(),
        reason,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(damaged("the file is empty".to_owned()));
    }
    if let Some(encoding) = byte_order_mark(bytes) {
        return Err(damaged(format!(
            "the file starts with a {encoding} byte order mark, but state files are UTF-8 JSON without one; \
             save it again as UTF-8 without a byte order mark"
        )));
    }
    // The direct decode reads a well-formed file of the current version in
    // one pass. Any other file takes the general path, which upgrades older
    // versions and explains errors.
    match decode_direct(bytes) {
        Some(state) => Ok(state),
        None => decode_general(bytes, path),
    }
}

/// Decodes a well-formed state file of the current format version in one
/// pass, or returns `None`.
fn decode_direct(bytes: &[u8]) -> Option<State> {
    // One check of the whole file is cheaper than the check of each string
    // that decoding from bytes makes.
    let text = std::str::from_utf8(bytes).ok()?;
    let shared = SharedStrings::start();
    let document = serde_json::from_str::<DirectDocument>(text).ok()?;
    drop(shared);
    if document.format_version != FORMAT_VERSION {
        return None;
    }
    direct_to_state(document).ok()
}

/// Decodes a well-formed state file of the current format version as it is
/// read, without holding its whole text, or returns `None`.
pub(crate) fn decode_direct_from(reader: impl std::io::Read) -> Option<State> {
    let shared = SharedStrings::start();
    let document = serde_json::from_reader::<_, DirectDocument>(reader).ok()?;
    drop(shared);
    if document.format_version != FORMAT_VERSION {
        return None;
    }
    direct_to_state(document).ok()
}

/// Returns the lineage and serial of a well-formed state file of the
/// current format version, read without decoding its resources, or `None`
/// for any other file.
pub(crate) fn stored_version(bytes: &[u8]) -> Option<(String, u64)> {
    // Fields that are not named here are checked as JSON and then skipped.
    #[derive(Deserialize)]
    struct Version {
        format_version: u64,
        lineage: String,
        serial: u64,
    }
    let version: Version = serde_json::from_slice(bytes).ok()?;
    (version.format_version == FORMAT_VERSION && !version.lineage.is_empty()).then_some((version.lineage, version.serial))
}

/// Decodes any state file through a JSON tree, upgrading older format
/// versions and describing what is wrong with a damaged file.
fn decode_general(bytes: &[u8], path: &str) -> Result<State, StateError> {
    let damaged = |reason: String| StateError::Damaged {
        path: path.to_owned(),
        reason,
    };
    if let Err(error) = serde_json::from_slice::<UniqueKeys>(bytes)
        && error.to_string().starts_with(REPEATED_KEY)
    {
        return Err(damaged(error.to_string()));
    }
    let json: Json =
        serde_json::from_slice(bytes).map_err(|error| damaged(describe_json_error(&error)))?;
    let version = read_format_version(&json).map_err(damaged)?;
    if version > FORMAT_VERSION {
        return Err(StateError::NewerFormat {
            path: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let json = upgrade(version, json).map_err(damaged)?;
    let document: StateDocument = serde_json::from_value(json)
        .map_err(|error| damaged(format!("invalid content: {error}")))?;
    document_to_state(document).map_err(damaged)
}

/// Returns the encoding whose byte order mark starts `bytes`, if any.
fn byte_order_mark(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        Some("UTF-8")
    } else if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        Some("UTF-16")
    } else {
        None
    }
}

/// Describes a JSON syntax error, calling out a file that ends too early.
pub(crate) fn describe_json_error(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Eof => {
            format!("the JSON ends early ({error}), so the file was probably truncated")
        }
        _ => format!("invalid JSON: {error}"),
    }
}

fn read_format_version(json: &Json) -> Result<u64, String> {
    let Some(object) = json.as_object() else {
        return Err("expected a JSON object at the top level".to_owned());
    };
    match object.get("format_version") {
        Some(version) => version
            .as_u64()
            .ok_or_else(|| format!("`format_version` must be a whole number, found {version}")),
        None => Err("the `format_version` field is missing".to_owned()),
    }
}

/// Rewrites a document of an older format version into the current one.
///
/// Version 1 is the first format, so no upgrade exists yet. A later format
/// adds one arm per older version that rewrites it into the next version,
/// and the arms run in sequence until the document reaches
/// [`FORMAT_VERSION`].
fn upgrade(version: u64, document: Json) -> Result<Json, String> {
    match version {
        FORMAT_VERSION => Ok(document),
        _ => Err(format!(
            "format version {version} does not exist: tenancy writes versions 1 to {FORMAT_VERSION}"
        )),
    }
}

fn document_to_state(document: StateDocument) -> Result<State, String> {
    if document.lineage.is_empty() {
        return Err("the `lineage` field is empty".to_owned());
    }
    let mut state = State::with_lineage(document.lineage, document.serial);
    state.tenancy_version = document.tenancy_version;

    for (index, json) in document.resources.into_iter().enumerate() {
        let record: ResourceRecord = serde_json::from_value(json)
            .map_err(|error| format!("resource {} is invalid: {error}", index + 1))?;
        record.validate()?;
        let address = record.address.clone();
        if state.upsert_resource(record.into_resource()).is_some() {
            return Err(format!("resource `{address}` is recorded twice"));
        }
    }

    for (name, output) in document.outputs {
        let value = match &output.sensitive_values {
            Some(mask) if is_mask(mask) => Value::from_json_with_sensitive(&output.value, mask),
            Some(_) => return Err(format!("output `{name}` has an invalid sensitive mask")),
            None => Value::from_json(&output.value),
        };
        state.outputs.insert(
            name,
            OutputState {
                value,
                sensitive: output.sensitive,
            },
        );
    }
    Ok(state)
}

/// The start of the error that [`UniqueKeys`] raises.
const REPEATED_KEY: &str = "the key";

/// A JSON document read only to check that no object repeats a key, which
/// a JSON tree would resolve silently by keeping the last value.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "{REPEATED_KEY} `{key}` appears twice in one object; remove one of them"
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// The state document decoded straight into attribute values, without an
/// intermediate JSON tree.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectDocument {
    format_version: u64,
    tenancy_version: String,
    lineage: String,
    serial: u64,
    resources: DirectResources,
    outputs: UniqueMap<OutputRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectRecord {
    address: SharedString,
    #[serde(rename = "type")]
    type_name: Name,
    provider: Name,
    attributes: PlainAttrs,
    sensitive_attributes: UniqueMap<Json>,
    dependencies: Vec<SharedString>,
}

impl DirectRecord {
    /// Returns the resource with its sensitive marks applied, or `Err` for a
    /// record the general path must explain.
    fn into_state(self) -> Result<ResourceState, ()> {
        if self.address.0.is_empty() || !self.sensitive_attributes.0.values().all(is_mask) {
            return Err(());
        }
        let PlainAttrs(mut attrs) = self.attributes;
        // JSON gives no length, so a list grows to room for four; most
        // resources have one or two dependencies.
        let mut dependencies: Vec<ArcStr> = self.dependencies.into_iter().map(|SharedString(address)| address).collect();
        dependencies.shrink_to_fit();
        for (name, mask) in &self.sensitive_attributes.0 {
            if let Some(value) = attrs.get_mut(name) {
                *value = mark_sensitive(std::mem::take(value), mask);
            }
        }
        Ok(ResourceState {
            address: self.address.0,
            type_name: self.type_name,
            provider: self.provider,
            attrs,
            dependencies,
        })
    }
}

/// The resources of a state file, each turned into its state as soon as it
/// is read.
///
/// Files written by tenancy list resources sorted by address. Those go
/// into `sorted` in batches, each built into a map and appended. Building
/// the map from one vector of every resource would keep the vector and the
/// sort's scratch space beside the map it builds: about 22 MB more for
/// 100,000 resources. An append rebuilds the map from both sides and frees
/// the nodes it has read as it goes. Resources that break the order go,
/// with all that follow, into `unsorted`, to be added one by one.
struct DirectResources {
    sorted: BTreeMap<ArcStr, ResourceState>,
    unsorted: Vec<ResourceState>,
}

/// The number of sorted resources built into a map at a time. Each append
/// walks the whole map, so the batches must be large enough to keep that
/// walk short beside the decode.
const SORTED_BATCH: usize = 8192;

impl<'de> Deserialize<'de> for DirectResources {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(DirectResourcesVisitor)
    }
}

struct DirectResourcesVisitor;

impl<'de> serde::de::Visitor<'de> for DirectResourcesVisitor {
    type Value = DirectResources;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a list of resources")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<DirectResources, A::Error> {
        let mut resources = DirectResources {
            sorted: BTreeMap::new(),
            unsorted: Vec::new(),
        };
        let mut batch: Vec<(ArcStr, ResourceState)> = Vec::new();
        while let Some(record) = seq.next_element::<DirectRecord>()? {
            let resource = record
                .into_state()
                .map_err(|()| serde::de::Error::custom("a resource needs the general path"))?;
            observe(&resource);
            if !resources.unsorted.is_empty() {
                resources.unsorted.push(resource);
                continue;
            }
            let previous = batch
                .last()
                .map(|(address, _)| address)
                .or_else(|| resources.sorted.last_key_value().map(|(address, _)| address));
            if previous.is_some_and(|previous| previous.as_str() >= resource.address.as_str()) {
                resources.unsorted.push(resource);
                continue;
            }
            if batch.len() == SORTED_BATCH {
                append_sorted(&mut resources.sorted, &mut batch);
            }
            batch.push((resource.address.clone(), resource));
        }
        append_sorted(&mut resources.sorted, &mut batch);
        Ok(resources)
    }
}

/// Moves a batch of resources, sorted by address and all after the map's
/// last address, into the map.
fn append_sorted(map: &mut BTreeMap<ArcStr, ResourceState>, batch: &mut Vec<(ArcStr, ResourceState)>) {
    let mut part: BTreeMap<ArcStr, ResourceState> = batch.drain(..).collect();
    map.append(&mut part);
}

/// A JSON object read into a map. A repeated key fails the direct decode,
/// so the general path reports it, where a map would keep the last value.
struct UniqueMap<V>(BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueMapVisitor(std::marker::PhantomData))
    }
}

struct UniqueMapVisitor<V>(std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for UniqueMapVisitor<V> {
    type Value = UniqueMap<V>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap<V>, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, V>()? {
            if entries.insert(key, value).is_some() {
                return Err(serde::de::Error::custom("an object repeats a key"));
            }
        }
        Ok(UniqueMap(entries))
    }
}

/// Attribute values read from a JSON object straight into [`Attrs`].
struct PlainAttrs(Attrs);

impl<'de> Deserialize<'de> for PlainAttrs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PlainAttrsVisitor)
    }
}

struct PlainAttrsVisitor;

impl<'de> serde::de::Visitor<'de> for PlainAttrsVisitor {
    type Value = PlainAttrs;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an object of attributes")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PlainAttrs, A::Error> {
        // A repeated name shows as a set shorter than the entries read, and
        // sends the file to the general path, which names the attribute.
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some((name, PlainValue(value))) = map.next_entry::<Name, PlainValue>()? {
            entries.push((name, value));
        }
        let count = entries.len();
        let attrs: Attrs = entries.into_iter().collect();
        if attrs.len() != count {
            return Err(serde::de::Error::custom("an object repeats a key"));
        }
        Ok(PlainAttrs(attrs))
    }
}

thread_local! {
    /// The strings of the state file this thread decodes, while it decodes
    /// one, so a string that many attributes repeat (a tenant id, a tier, a
    /// region, a time) is stored once.
    static DECODED_STRINGS: RefCell<Option<StringTable>> = const { RefCell::new(None) };

    /// Strings that the next state decoded on this thread shares, set by
    /// [`with_known_strings`].
    static KNOWN_STRINGS: RefCell<Option<StringTable>> = const { RefCell::new(None) };

    /// A function called on each resource that a direct decode on this
    /// thread reads, set by [`with_resource_observer`].
    static RESOURCE_OBSERVER: RefCell<Option<ResourceObserver>> = const { RefCell::new(None) };
}

/// A function called on each resource as a state is decoded.
pub type ResourceObserver = Box<dyn FnMut(&ResourceState)>;

/// Runs `read` with `observer` called on each resource that a direct decode
/// on this thread reads, as soon as the resource is read.
///
/// A plan uses it to let go of configurations that the recorded resources
/// repeat before the rest of a large state arrives. The observer may also
/// be called on resources that do not end up in the returned state: those
/// of a decode that fails and is read again by the general path, and those
/// that a journal replaced.
pub fn with_resource_observer<T>(observer: ResourceObserver, read: impl FnOnce() -> T) -> T {
    RESOURCE_OBSERVER.with_borrow_mut(|slot| *slot = Some(observer));
    let result = read();
    RESOURCE_OBSERVER.with_borrow_mut(|slot| *slot = None);
    result
}

/// Calls the observer of this thread on `resource`, if it has one.
fn observe(resource: &ResourceState) {
    RESOURCE_OBSERVER.with_borrow_mut(|slot| {
        if let Some(observer) = slot {
            observer(resource);
        }
    });
}

/// Runs `read` with `known` as the strings that the first state decoded on
/// this thread starts from, so each decoded string equal to a known one
/// shares its allocation instead of taking a copy.
///
/// A plan passes the addresses and configured values of its resources:
/// recorded state repeats most of them.
pub fn with_known_strings<T>(known: StringTable, read: impl FnOnce() -> T) -> T {
    KNOWN_STRINGS.with_borrow_mut(|strings| *strings = Some(known));
    let result = read();
    KNOWN_STRINGS.with_borrow_mut(|strings| *strings = None);
    result
}

/// Shares equal strings among the values decoded on this thread until it
/// is dropped.
struct SharedStrings;

impl SharedStrings {
    fn start() -> SharedStrings {
        let table = KNOWN_STRINGS.with_borrow_mut(Option::take).unwrap_or_default();
        DECODED_STRINGS.with_borrow_mut(|strings| *strings = Some(table));
        SharedStrings
    }
}

impl Drop for SharedStrings {
    fn drop(&mut self) {
        DECODED_STRINGS.with_borrow_mut(|strings| *strings = None);
    }
}

/// Returns `text` as a shared string. While a [`SharedStrings`] scope is
/// open on this thread, that is the copy decoded first.
fn shared_string(text: &str) -> ArcStr {
    DECODED_STRINGS.with_borrow_mut(|strings| match strings {
        Some(strings) => strings.get_or_insert(text),
        None => ArcStr::from(text),
    })
}

/// A string read as [`shared_string`] returns it, such as an address that
/// other resources name as a dependency.
struct SharedString(ArcStr);

impl<'de> Deserialize<'de> for SharedString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(SharedStringVisitor).map(SharedString)
    }
}

struct SharedStringVisitor;

impl<'de> serde::de::Visitor<'de> for SharedStringVisitor {
    type Value = ArcStr;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_str<E>(self, text: &str) -> Result<ArcStr, E> {
        Ok(shared_string(text))
    }
}

/// An attribute value read from plain JSON without marks, converted as
/// [`Value::from_json`] converts it.
struct PlainValue(Value);

impl<'de> Deserialize<'de> for PlainValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlainVisitor).map(PlainValue)
    }
}

struct PlainVisitor;

impl<'de> serde::de::Visitor<'de> for PlainVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Value, E> {
        Ok(Value::Number(number as f64))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Value, E> {
        Ok(Value::Number(number as f64))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Value, E> {
        Ok(Value::Number(number))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(shared_string(text)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = ThinVec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(PlainValue(item)) = seq.next_element()? {
            items.push(item);
        }
        items.shrink_to_fit();
        Ok(Value::List(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Collecting builds the map in one pass. A repeated key shows as a
        // map shorter than the entries read, and sends the file to the
        // general path, which names the key.
        // JSON gives no size hint. Room for 16 entries covers a typical
        // attribute set without growing the vector on the way.
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some((key, PlainValue(value))) = map.next_entry::<String, PlainValue>()? {
            entries.push((key, value));
        }
        let count = entries.len();
        let built: BTreeMap<String, Value> = entries.into_iter().collect();
        if built.len() != count {
            return Err(serde::de::Error::custom("an object repeats a key"));
        }
        Ok(Value::map(built))
    }
}

/// Marks the parts of `value` that `mask` names as sensitive, with the
/// result of [`Value::from_json_with_sensitive`].
fn mark_sensitive(value: Value, mask: &Json) -> Value {
    match (mask, value) {
        (Json::Bool(true), value) => Value::sensitive(value),
        (Json::Object(marks), Value::Map(map)) => Value::Map(
            map.into_iter()
                .map(|(key, value)| match marks.get(&key) {
                    Some(mark) => {
                        let marked = mark_sensitive(value, mark);
                        (key, marked)
                    }
                    None => (key, value),
                })
                .collect(),
        ),
        (Json::Array(marks), Value::List(items)) => Value::List(
            items
                .into_iter()
                .enumerate()
                .map(|(index, item)| match marks.get(index) {
                    Some(mark) => mark_sensitive(item, mark),
                    None => item,
                })
                .collect(),
        ),
        (_, value) => value,
    }
}

/// Builds the state from a direct decode. An error sends the caller to the
/// general path, which reports it.
fn direct_to_state(document: DirectDocument) -> Result<State, ()> {
    if document.lineage.is_empty() {
        return Err(());
    }
    let mut state = State::with_lineage(document.lineage, document.serial);
    state.tenancy_version = document.tenancy_version;

    let DirectResources { sorted, unsorted } = document.resources;
    state.resources = sorted;
    for resource in unsorted {
        if state.upsert_resource(resource).is_some() {
            return Err(());
        }
    }

    for (name, output) in document.outputs.0 {
        let value = match &output.sensitive_values {
            Some(mask) if is_mask(mask) => Value::from_json_with_sensitive(&output.value, mask),
            Some(_) => return Err(()),
            None => Value::from_json(&output.value),
        };
        state.outputs.insert(
            name,
            OutputState {
                value,
                sensitive: output.sensitive,
            },
        );
    }
    Ok(state)
}

fn is_mask(mask: &Json) -> bool {
    match mask {
        Json::Bool(_) => true,
        Json::Array(items) => items.iter().all(is_mask),
        Json::Object(map) => map.values().all(is_mask),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_state() -> State {
        let mut state = State::new();
        let mut attrs = Attrs::new();
        attrs.insert("name".to_owned(), Value::string("acme"));
        attrs.insert("port".to_owned(), Value::Number(5432.0));
        attrs.insert(
            "password".to_owned(),
            Value::sensitive(Value::string("hunter2")),
        );
        let mut nested = BTreeMap::new();
        nested.insert("token".to_owned(), Value::sensitive(Value::string("t0k")));
        nested.insert("user".to_owned(), Value::string("app"));
        attrs.insert("credentials".to_owned(), Value::map(nested));
        let mut resource = ResourceState::new(
            "tenant.acme.database.postgres",
            "postgres_database",
            "postgres.eu",
            attrs,
        );
        resource.dependencies = vec!["tenant.acme".to_owned().into()];
        state.upsert_resource(resource);
        state.upsert_resource(ResourceState::new(
            "tenant.acme",
            "catalog_tenant",
            "sqlite",
            Attrs::new(),
        ));
        state.outputs.insert(
            "secret".to_owned(),
            OutputState {
                value: Value::sensitive(Value::string("s3cret")),
                sensitive: true,
            },
        );
        state.serial = 7;
        state
    }

    #[test]
    fn encoding_matches_the_json_document() {
        let mut state = sample_state();
        let mut attrs = Attrs::new();
        let numbers = [0.0, -0.0, 49.0, -3.0, 0.25, 1e20, -1e300, 9_007_199_254_740_993.0, f64::NAN, f64::INFINITY];
        attrs.insert(
            "numbers".to_owned(),
            Value::List(numbers.into_iter().map(Value::Number).collect()),
        );
        attrs.insert(
            "nested".to_owned(),
            Value::list(vec![
                Value::Map(tenancy_sdk::ValueMap::new()),
                Value::List(ThinVec::new()),
                Value::sensitive(Value::list(vec![Value::Bool(true), Value::Null])),
                Value::map(BTreeMap::from([(
                    "inner".to_owned(),
                    Value::list(vec![Value::string("x"), Value::sensitive(Value::Number(1.5))]),
                )])),
            ]),
        );
        attrs.insert("text".to_owned(), Value::string("quote \" tab \t line\n é \u{1F600}"));
        state.upsert_resource(ResourceState::new("item.varied", "item", "echo", attrs));
        state.outputs.insert(
            "plain".to_owned(),
            OutputState {
                value: Value::list(vec![Value::Number(2.0), Value::sensitive(Value::string("y"))]),
                sensitive: false,
            },
        );

        let encoded = encode(&state).unwrap();

        let mut expected = serde_json::to_vec_pretty(&to_json(&state).unwrap()).unwrap();
        expected.push(b'\n');
        assert_eq!(String::from_utf8(encoded).unwrap(), String::from_utf8(expected).unwrap());
    }

    #[test]
    fn stored_version_reads_current_files_only() {
        let state = sample_state();
        let bytes = encode(&state).unwrap();
        let mut older: Json = serde_json::from_slice(&bytes).unwrap();
        older["format_version"] = 0.into();

        assert_eq!(stored_version(&bytes), Some((state.lineage.clone(), 7)));
        assert_eq!(stored_version(&serde_json::to_vec(&older).unwrap()), None);
        assert_eq!(stored_version(&bytes[..bytes.len() / 2]), None);
        assert_eq!(stored_version(b""), None);
    }

    #[test]
    fn encoding_rejects_unknown_values_first() {
        let mut state = sample_state();
        let mut attrs = Attrs::new();
        attrs.insert("id".to_owned(), Value::Unknown);
        state.upsert_resource(ResourceState::new("item.pending", "item", "echo", attrs));

        let error = encode(&state).unwrap_err();

        assert!(matches!(error, StateError::UnknownValue { ref address, .. } if address == "item.pending"), "{error}");
    }

    #[test]
    fn round_trip_keeps_marks_and_fields() {
        let state = sample_state();

        let decoded = decode(&encode(&state).unwrap(), "state.json").unwrap();

        assert_eq!(decoded, state);
    }

    #[test]
    fn direct_decode_shares_repeated_strings() {
        let mut state = sample_state();
        let mut attrs = Attrs::new();
        attrs.insert("name".to_owned(), Value::string("acme"));
        attrs.insert("owner".to_owned(), Value::string("tenant.acme"));
        let mut resource = ResourceState::new("tenant.acme.monitoring", "catalog_monitoring", "sqlite", attrs);
        resource.dependencies = vec!["tenant.acme".into()];
        state.upsert_resource(resource);
        let bytes = encode(&state).unwrap();

        let decoded = decode_direct(&bytes).expect("the direct decode accepts the file");

        let text = |address: &str, name: &str| match decoded.resources[address].attrs.get(name) {
            Some(Value::String(text)) => text.clone(),
            other => panic!("`{name}` of `{address}` is {other:?}"),
        };
        let database = "tenant.acme.database.postgres";
        let monitoring = "tenant.acme.monitoring";
        let (key, tenant) = decoded.resources.get_key_value("tenant.acme").unwrap();
        assert!(ArcStr::ptr_eq(&text(database, "name"), &text(monitoring, "name")));
        assert!(ArcStr::ptr_eq(key, &tenant.address));
        assert!(ArcStr::ptr_eq(&tenant.address, &decoded.resources[monitoring].dependencies[0]));
        assert!(ArcStr::ptr_eq(&tenant.address, &text(monitoring, "owner")));
        assert!(DECODED_STRINGS.with_borrow(Option::is_none));
    }

    #[test]
    fn observer_sees_each_decoded_resource() {
        let state = sample_state();
        let bytes = encode(&state).unwrap();
        let seen = std::rc::Rc::new(RefCell::new(Vec::new()));
        let observer: ResourceObserver = {
            let seen = std::rc::Rc::clone(&seen);
            Box::new(move |resource: &ResourceState| seen.borrow_mut().push(resource.clone()))
        };

        let decoded = with_resource_observer(observer, || decode(&bytes, "state.json")).unwrap();
        let unobserved = decode(&bytes, "state.json").unwrap();

        let seen = seen.borrow();
        assert_eq!(seen.len(), decoded.resources.len());
        for resource in seen.iter() {
            assert_eq!(Some(resource), decoded.resources.get(resource.address.as_str()));
        }
        assert_eq!(unobserved, decoded);
        assert!(RESOURCE_OBSERVER.with_borrow(Option::is_none));
    }

    #[test]
    fn known_strings_are_shared_by_the_decode() {
        let state = sample_state();
        let bytes = encode(&state).unwrap();
        let address: ArcStr = "tenant.acme".into();
        let mut known = StringTable::new();
        known.insert(&address);

        let decoded = with_known_strings(known, || decode(&bytes, "state.json")).unwrap();

        let (key, tenant) = decoded.resources.get_key_value("tenant.acme").unwrap();
        assert!(ArcStr::ptr_eq(key, &address));
        assert!(ArcStr::ptr_eq(&tenant.address, &address));
        assert!(KNOWN_STRINGS.with_borrow(Option::is_none));
    }

    #[test]
    fn direct_decode_matches_general() {
        let mut state = sample_state();
        let mut attrs = Attrs::new();
        attrs.insert(
            "hosts".to_owned(),
            Value::list(vec![
                Value::string("a"),
                Value::sensitive(Value::string("b")),
            ]),
        );
        attrs.insert("ratio".to_owned(), Value::Number(0.25));
        attrs.insert("empty".to_owned(), Value::Null);
        state.upsert_resource(ResourceState::new("tier.pro", "catalog_tier", "sqlite", attrs));
        let bytes = encode(&state).unwrap();

        let direct = decode_direct(&bytes).expect("the direct decode accepts the file");
        let general = decode_general(&bytes, "state.json").unwrap();

        assert_eq!(direct, general);
        assert_eq!(direct, state);
    }

    #[test]
    fn repeated_keys_are_rejected() {
        let text = String::from_utf8(encode(&sample_state()).unwrap()).unwrap();
        let cases = [
            text.replacen("\"name\": \"acme\"", "\"name\": \"first\", \"name\": \"acme\"", 1),
            text.replacen("\"serial\": 7", "\"serial\": 7, \"serial\": 8", 1),
            text.replacen("\"resources\": [", "\"resources\": [], \"resources\": [", 1),
            text.replacen("\"outputs\": {", "\"outputs\": {\"secret\": {\"value\": \"x\", \"sensitive\": false}, ", 1),
            text.replacen("\"sensitive_attributes\": {\n", "\"sensitive_attributes\": {\"password\": true,\n", 1),
        ];
        for repeated in cases {
            assert_ne!(repeated, text);

            let error = decode(repeated.as_bytes(), "state.json").unwrap_err();

            assert!(error.to_string().contains("appears twice in one object"), "{error}");
        }
    }

    #[test]
    fn direct_decode_rejects_duplicates() {
        let state = sample_state();
        let mut json: Json = serde_json::from_slice(&encode(&state).unwrap()).unwrap();
        json["resources"].as_array_mut().unwrap().reverse();
        let reversed = json.to_string();
        let first = json["resources"][0].clone();
        json["resources"].as_array_mut().unwrap().push(first);
        let duplicated = json.to_string();

        let decoded = decode_direct(reversed.as_bytes()).unwrap();

        assert_eq!(decoded, state);
        assert!(decode_direct(duplicated.as_bytes()).is_none());
    }

    #[test]
    fn direct_decode_reads_several_batches() {
        let mut state = State::new();
        for index in 0..2 * SORTED_BATCH + 3 {
            let mut attrs = Attrs::new();
            attrs.insert("index".to_owned(), Value::Number(index as f64));
            let address = format!("tenant.t{index:06}");
            state.upsert_resource(ResourceState::new(&address, "catalog_tenant", "sqlite", attrs));
        }
        let mut json: Json = serde_json::from_slice(&encode(&state).unwrap()).unwrap();
        let sorted = json.to_string();
        // The last two resources swap places, so two full batches are
        // appended before the order breaks and the rest is added one by one.
        let resources = json["resources"].as_array_mut().unwrap();
        resources.swap(2 * SORTED_BATCH + 1, 2 * SORTED_BATCH + 2);
        let swapped = json.to_string();
        let resources = json["resources"].as_array_mut().unwrap();
        let repeated = resources[SORTED_BATCH + 1].clone();
        resources.push(repeated);
        let duplicated = json.to_string();

        assert_eq!(decode_direct(sorted.as_bytes()).unwrap(), state);
        assert_eq!(decode_direct(swapped.as_bytes()).unwrap(), state);
        assert!(decode_direct(duplicated.as_bytes()).is_none());
    }

    #[test]
    fn resources_are_sorted_by_address() {
        let bytes = encode(&sample_state()).unwrap();
        let json: Json = serde_json::from_slice(&bytes).unwrap();

        let addresses: Vec<_> = json["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|resource| resource["address"].as_str().unwrap())
            .collect();

        assert_eq!(addresses, ["tenant.acme", "tenant.acme.database.postgres"]);
    }

    #[test]
    fn sensitive_values_are_stored_with_mask() {
        let bytes = encode(&sample_state()).unwrap();
        let json: Json = serde_json::from_slice(&bytes).unwrap();
        let resource = &json["resources"][1];

        assert_eq!(resource["attributes"]["password"], "hunter2");
        assert_eq!(resource["sensitive_attributes"]["password"], true);
        assert_eq!(
            resource["sensitive_attributes"]["credentials"],
            serde_json::json!({"token": true})
        );
        assert!(resource["sensitive_attributes"].get("name").is_none());
    }

    #[test]
    fn too_deep_value_is_rejected() {
        let mut deep = Value::Number(1.0);
        for _ in 0..=MAX_VALUE_DEPTH {
            deep = Value::list(vec![deep]);
        }
        let mut state = State::new();
        let mut attrs = Attrs::new();
        attrs.insert("nested".to_owned(), deep);
        state.upsert_resource(ResourceState::new("tenant.acme", "catalog_tenant", "sqlite", attrs));

        let error = encode(&state).unwrap_err();

        assert!(matches!(error, StateError::TooDeep { depth, .. } if depth == MAX_VALUE_DEPTH + 1));
    }

    #[test]
    fn deepest_allowed_value_round_trips() {
        let mut deep = Value::Number(1.0);
        for _ in 0..MAX_VALUE_DEPTH {
            deep = Value::map(BTreeMap::from([("k".to_owned(), deep)]));
        }
        let mut state = State::new();
        state.outputs.insert(
            "deep".to_owned(),
            OutputState {
                value: deep.clone(),
                sensitive: false,
            },
        );
        let mut attrs = Attrs::new();
        attrs.insert("nested".to_owned(), deep);
        state.upsert_resource(ResourceState::new("tenant.acme", "catalog_tenant", "sqlite", attrs));

        let decoded = decode(&encode(&state).unwrap(), "state.json").unwrap();

        assert_eq!(decoded, state);
    }

    #[test]
    fn unknown_attribute_is_rejected() {
        let mut state = State::new();
        let mut attrs = Attrs::new();
        attrs.insert("id".to_owned(), Value::Unknown);
        state.upsert_resource(ResourceState::new(
            "tenant.acme",
            "catalog_tenant",
            "sqlite",
            attrs,
        ));

        let error = encode(&state).unwrap_err();

        assert!(
            matches!(error, StateError::UnknownValue { ref attribute, .. } if attribute == "id")
        );
    }

    #[test]
    fn damaged_inputs_are_rejected_with_reason() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "empty"),
            (b"  \n", "empty"),
            (b"{\"format_version\": 1, \"lineage\": \"x\"", "truncated"),
            (b"\x00\x01garbage", "invalid JSON"),
            (b"[1, 2]", "top level"),
            (b"\xEF\xBB\xBF{}", "UTF-8 byte order mark"),
            (b"\xFF\xFE{\x00}\x00", "UTF-16 byte order mark"),
            (b"{\"format_version\": 1}", "missing field"),
        ];
        for (bytes, expected) in cases {
            let error = decode(bytes, "dir/state.json").unwrap_err();
            let message = error.to_string();

            assert!(message.contains("dir/state.json"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn future_format_version_is_rejected() {
        let bytes = br#"{"format_version": 2, "lineage": "x", "serial": 1}"#;

        let error = decode(bytes, "state.json").unwrap_err();

        assert!(matches!(
            error,
            StateError::NewerFormat {
                found: 2,
                supported: 1,
                ..
            }
        ));
        assert!(error.to_string().contains("written by a newer tenancy"));
    }

    #[test]
    fn format_version_zero_is_rejected() {
        let bytes = br#"{"format_version": 0}"#;

        let error = decode(bytes, "state.json").unwrap_err();

        assert!(
            error
                .to_string()
                .contains("format version 0 does not exist"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_address_is_rejected() {
        let mut json: Json = serde_json::from_slice(&encode(&sample_state()).unwrap()).unwrap();
        let first = json["resources"][0].clone();
        json["resources"].as_array_mut().unwrap().push(first);

        let error = decode(json.to_string().as_bytes(), "state.json").unwrap_err();

        assert!(error.to_string().contains("recorded twice"), "{error}");
    }

    #[test]
    fn invalid_mask_is_rejected() {
        let mut json: Json = serde_json::from_slice(&encode(&sample_state()).unwrap()).unwrap();
        json["resources"][1]["sensitive_attributes"]["password"] = Json::from("yes");

        let error = decode(json.to_string().as_bytes(), "state.json").unwrap_err();

        assert!(
            error.to_string().contains("invalid sensitive mask"),
            "{error}"
        );
    }
}
