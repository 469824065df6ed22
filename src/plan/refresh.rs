//! Refresh: reads the real objects behind every resource in state.
//!
//! Resources are grouped by provider instance and each provider receives
//! batched reads of up to 1,024 resources, so a provider that can read
//! many objects with one query (the catalog) does so.

use std::collections::{BTreeMap, HashMap, VecDeque};

use tenancy_sdk::{Attrs, ReadRequest, Value};

use crate::plan::model::Drift;
use crate::registry::{Instance, Registry};
use crate::state::{ResourceState, State};

/// Failure to read one resource during refresh.
#[derive(Debug, thiserror::Error)]
#[error("failed to refresh `{address}`: {message}")]
pub struct RefreshError {
    /// The resource address.
    pub address: String,
    /// The provider's message.
    pub message: String,
    /// The provider's hint.
    pub hint: Option<String>,
}

/// The result of a refresh.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// Resources whose attributes as read differ from the recorded ones,
    /// and `None` for objects that are gone, by address. Every other
    /// resource reads as recorded, without a copy.
    pub changed: HashMap<String, Option<ResourceState>>,
    /// Differences between state and the real objects.
    pub drift: Vec<Drift>,
}

/// The maximum number of resources in one provider read. Each read's
/// results are folded into the refreshed state before the next reads
/// finish, so a large state never keeps every object read at once.
const READ_BATCH: usize = 1024;

/// The read batch of a state of [`LARGE_STATE_RESOURCES`] or more. The
/// reads in flight and their results take memory in proportion to the
/// batch: a no-op plan of 100,000 resources peaked 2.3 MiB lower with
/// half the batch, in the same time. A smaller state keeps the larger
/// batch, since each read also costs a query: the no-op plan of 4,000
/// resources took about 1 ms longer with half the batch.
const LARGE_STATE_READ_BATCH: usize = 512;

/// The number of resources from which refresh reads in smaller batches.
const LARGE_STATE_RESOURCES: usize = 25_000;

/// Returns the read batch for a state of `resources` resources.
fn read_batch(resources: usize) -> usize {
    if resources >= LARGE_STATE_RESOURCES { LARGE_STATE_READ_BATCH } else { READ_BATCH }
}

/// Reads every resource of `state` through its provider.
///
/// Resources whose provider instance is not configured are kept as
/// recorded, since nothing can read them.
pub async fn refresh(state: &State, registry: &Registry) -> Result<Refreshed, Vec<RefreshError>> {
    let mut by_instance: BTreeMap<&str, Vec<&ResourceState>> = BTreeMap::new();
    for resource in state.resources.values() {
        by_instance.entry(resource.provider.as_str()).or_default().push(resource);
    }

    // Resources of an instance that is not configured read as recorded.
    let mut folded = Folded::default();
    let groups: Vec<_> = by_instance
        .into_iter()
        .filter_map(|(instance_name, resources)| Some((registry.get(instance_name)?, resources)))
        .collect();

    // Batches of all instances take turns, so every provider has a read
    // in flight from the start. One more batch than there are instances
    // is read ahead while the oldest read's results are folded in.
    let sensitive: Vec<HashMap<&str, Vec<&'static str>>> =
        groups.iter().map(|(instance, _)| sensitive_by_type(instance)).collect();
    let mut batches = Vec::new();
    let longest = groups.iter().map(|(_, resources)| resources.len()).max().unwrap_or(0);
    let read_batch = read_batch(state.resources.len());
    for start in (0..longest).step_by(read_batch) {
        for (group, (instance, resources)) in groups.iter().enumerate() {
            if let Some(batch) = resources.get(start..resources.len().min(start + read_batch)) {
                if !batch.is_empty() {
                    batches.push((group, *instance, batch));
                }
            }
        }
    }
    let in_flight_max = groups.len() + 1;
    let started = std::time::Instant::now();
    let mut in_flight = VecDeque::new();
    let mut waiting = batches.into_iter();
    loop {
        while in_flight.len() < in_flight_max {
            let Some((group, instance, batch)) = waiting.next() else {
                break;
            };
            in_flight.push_back((group, batch, start_read(instance, batch)));
        }
        let Some((group, batch, read)) = in_flight.pop_front() else {
            break;
        };
        let results = match read.await {
            Ok(results) => results,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        };
        folded.fold(batch, results, &sensitive[group]);
    }
    tracing::debug!(elapsed = ?started.elapsed(), "providers read the recorded objects");

    let Folded {
        changed,
        mut drift,
        errors,
    } = folded;
    if errors.is_empty() {
        drift.sort_by(|left, right| left.address.cmp(&right.address));
        Ok(Refreshed { changed, drift })
    } else {
        Err(errors)
    }
}

/// Starts one provider read of `batch` as its own task.
fn start_read(
    instance: &Instance,
    batch: &[&ResourceState],
) -> tokio::task::JoinHandle<Vec<tenancy_sdk::ProviderResult<Option<Attrs>>>> {
    let provider = instance.provider.clone();
    let requests: Vec<ReadRequest> = batch
        .iter()
        .map(|resource| ReadRequest {
            type_name: resource.type_name.to_string(),
            address: resource.address.to_string(),
            prior: resource.attrs.clone(),
        })
        .collect();
    tokio::spawn(async move { provider.read(&requests).await })
}

/// The refreshed resources, drift and errors of the reads folded so far.
#[derive(Default)]
struct Folded {
    changed: HashMap<String, Option<ResourceState>>,
    drift: Vec<Drift>,
    errors: Vec<RefreshError>,
}

impl Folded {
    /// Adds the results of one read, which pair with `recorded` by
    /// position.
    fn fold(
        &mut self,
        recorded: &[&ResourceState],
        results: Vec<tenancy_sdk::ProviderResult<Option<Attrs>>>,
        sensitive: &HashMap<&str, Vec<&'static str>>,
    ) {
        for (recorded, result) in recorded.iter().zip(results) {
            match result {
                Ok(Some(attrs)) => {
                    let names = sensitive.get(recorded.type_name.as_str()).map_or(&[][..], Vec::as_slice);
                    let mut attrs = attrs;
                    carry_marks(&mut attrs, &recorded.attrs);
                    let attrs = mark_attrs(attrs, names);
                    // A resource read as recorded keeps no copy: it reads
                    // from state, and state and the plan share its set.
                    if attrs == recorded.attrs {
                        continue;
                    }
                    if !same_attrs(&recorded.attrs, &attrs) {
                        self.drift.push(self::drift(recorded, Some(attrs.clone())));
                    }
                    let resource = ResourceState {
                        address: recorded.address.clone(),
                        type_name: recorded.type_name.clone(),
                        provider: recorded.provider.clone(),
                        attrs,
                        dependencies: recorded.dependencies.clone(),
                    };
                    self.changed.insert(recorded.address.to_string(), Some(resource));
                }
                Ok(None) => {
                    self.drift.push(self::drift(recorded, None));
                    self.changed.insert(recorded.address.to_string(), None);
                }
                Err(error) => self.errors.push(RefreshError {
                    address: recorded.address.to_string(),
                    message: tenancy_sdk::redact_sensitive(&error.message, recorded.attrs.values()),
                    hint: error.hint,
                }),
            }
        }
    }
}

/// Returns the names of the sensitive attributes of each resource type of
/// a provider instance.
fn sensitive_by_type(instance: &Instance) -> HashMap<&str, Vec<&'static str>> {
    instance
        .schemas
        .iter()
        .map(|(type_name, schema)| {
            let names = schema
                .attributes
                .iter()
                .filter(|attribute| attribute.sensitive)
                .map(|attribute| attribute.name)
                .collect();
            (type_name.as_str(), names)
        })
        .collect()
}

fn drift(recorded: &ResourceState, after: Option<Attrs>) -> Drift {
    Drift {
        address: recorded.address.to_string(),
        type_name: recorded.type_name.clone(),
        provider: recorded.provider.clone(),
        before: recorded.attrs.clone(),
        after,
    }
}

/// Wraps the attributes the schema declares sensitive, so values read back
/// from a provider never lose the mark.
pub fn mark_sensitive(registry: &Registry, resource: &ResourceState, attrs: Attrs) -> Attrs {
    let mut attrs = attrs;
    carry_marks(&mut attrs, &resource.attrs);
    let schema = registry
        .get(&resource.provider)
        .and_then(|instance| instance.schemas.get(resource.type_name.as_str()));
    match schema {
        Some(schema) => {
            let names: Vec<&str> = schema
                .attributes
                .iter()
                .filter(|attribute| attribute.sensitive)
                .map(|attribute| attribute.name)
                .collect();
            mark_attrs(attrs, &names)
        }
        None => attrs,
    }
}

/// Marks every attribute of `attrs` sensitive whose value in `marked`
/// contains a sensitive value, so a secret that reached a resource through
/// configuration stays hidden after the provider returns it unmarked.
pub fn carry_marks(attrs: &mut Attrs, marked: &Attrs) {
    // Most resources carry no secret, and the check of the values alone is
    // cheaper than a lookup of every name.
    if !marked.values().any(Value::contains_sensitive) {
        return;
    }
    for (name, value) in attrs.iter_mut() {
        let was_sensitive = marked.get(name).is_some_and(Value::contains_sensitive);
        if was_sensitive && !value.is_null() && !value.contains_sensitive() {
            *value = Value::sensitive(std::mem::take(value));
        }
    }
}

/// Wraps the named attributes in the sensitive mark, unless null or marked
/// already.
fn mark_attrs(mut attrs: Attrs, names: &[&str]) -> Attrs {
    for name in names {
        if let Some(value) = attrs.get_mut(*name) {
            if !value.is_null() && !value.is_sensitive() {
                *value = Value::sensitive(std::mem::take(value));
            }
        }
    }
    attrs
}

/// Compares two attribute sets by their data, ignoring marks and treating a
/// missing attribute as null.
pub fn same_attrs(left: &Attrs, right: &Attrs) -> bool {
    if left.shares_with(right) {
        return true;
    }
    // Both maps are sorted by name, so one merged walk pairs the names. A
    // name that only one side has is compared with null.
    let null = Value::Null;
    let mut left_entries = left.iter().peekable();
    let mut right_entries = right.iter().peekable();
    loop {
        let (left_value, right_value) = match (left_entries.peek(), right_entries.peek()) {
            (None, None) => return true,
            (Some((left_name, _)), Some((right_name, _))) if left_name == right_name => {
                (left_entries.next().map(|(_, value)| value), right_entries.next().map(|(_, value)| value))
            }
            (Some((left_name, _)), Some((right_name, _))) if left_name < right_name => {
                (left_entries.next().map(|(_, value)| value), None)
            }
            (Some(_), None) => (left_entries.next().map(|(_, value)| value), None),
            (_, Some(_)) => (None, right_entries.next().map(|(_, value)| value)),
        };
        if !same_value(left_value.unwrap_or(&null), right_value.unwrap_or(&null)) {
            return false;
        }
    }
}

/// Compares two values by their data, ignoring sensitive marks.
pub fn same_value(left: &Value, right: &Value) -> bool {
    left.eq_unmarked(right)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tenancy_sdk::{
        AttrType, AttributeSchema, ImportRequest, Operation, Provider, ProviderContext, ProviderError, ProviderResult,
        ResourceSchema,
    };

    use super::*;
    use crate::plan::diff::Current;

    /// Returns each object as recorded, except `n = 1` (changed outside
    /// tenancy) and `n = 2` (deleted), and records the size of every read.
    struct RecordingProvider {
        reads: Arc<Mutex<Vec<usize>>>,
    }

    #[async_trait::async_trait]
    impl Provider for RecordingProvider {
        fn type_name(&self) -> &'static str {
            "recording"
        }

        fn schemas(&self) -> Vec<ResourceSchema> {
            vec![ResourceSchema {
                type_name: "item",
                description: "An item.",
                attributes: vec![AttributeSchema::required("n", AttrType::Number, "A number.")],
            }]
        }

        async fn configure(&mut self, _: &Attrs, _: &ProviderContext) -> ProviderResult<()> {
            Ok(())
        }

        async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
            self.reads.lock().expect("no test thread panicked").push(requests.len());
            requests
                .iter()
                .map(|request| match request.prior.get("n").and_then(Value::as_f64) {
                    Some(1.0) => Ok(Some(Attrs::from([("n".to_owned(), Value::Number(-1.0))]))),
                    Some(2.0) => Ok(None),
                    _ => Ok(Some(Attrs::from([("n".to_owned(), request.prior["n"].clone())]))),
                })
                .collect()
        }

        async fn apply(&self, _: &str, _: &str, _: Operation<'_>) -> ProviderResult<Option<Attrs>> {
            Ok(None)
        }

        async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
            Err(ProviderError::other(format!("cannot import `{}`", request.id)))
        }
    }

    #[test]
    fn large_states_read_in_smaller_batches() {
        assert_eq!(read_batch(LARGE_STATE_RESOURCES - 1), READ_BATCH);
        assert_eq!(read_batch(LARGE_STATE_RESOURCES), LARGE_STATE_READ_BATCH);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refresh_reads_large_state_in_batches() {
        let reads = Arc::new(Mutex::new(Vec::new()));
        let mut registry = Registry::default();
        registry.insert("recording", Box::new(RecordingProvider { reads: Arc::clone(&reads) }));
        let count = 2 * READ_BATCH + 10;
        let mut state = State::new();
        for index in 0..count {
            let address = format!("item.i{index:05}");
            let attrs = Attrs::from([("n".to_owned(), Value::Number(index as f64))]);
            state.resources.insert(address.clone().into(), ResourceState::new(address, "item", "recording", attrs));
        }
        let unread = ResourceState::new("other.kept", "item", "unconfigured", Attrs::new());
        state.resources.insert(unread.address.clone(), unread);

        let refreshed = refresh(&state, &registry).await.expect("refresh succeeds");

        let reads = reads.lock().expect("no test thread panicked").clone();
        assert_eq!(reads, vec![READ_BATCH, READ_BATCH, 10]);
        let current = Current::refreshed(&state.resources, &refreshed.changed);
        assert_eq!(current.iter().count(), count);
        assert!(current.get("other.kept").is_some());
        assert!(current.get("item.i00002").is_none());
        let drifted: Vec<&str> = refreshed.drift.iter().map(|entry| entry.address.as_str()).collect();
        assert_eq!(drifted, vec!["item.i00001", "item.i00002"]);
        assert_eq!(current.get("item.i00001").expect("read").attrs["n"], Value::Number(-1.0));
        let last = format!("item.i{:05}", count - 1);
        assert!(current.get(&last).expect("read").attrs.shares_with(&state.resources[last.as_str()].attrs));
        assert_eq!(refreshed.changed.len(), 2);
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect()
    }

    #[test]
    fn same_attrs_treats_missing_as_null() {
        let left = attrs(&[("a", Value::Null), ("b", Value::string("x"))]);
        let right = attrs(&[("b", Value::string("x")), ("c", Value::Null)]);

        assert!(same_attrs(&left, &right));
        assert!(same_attrs(&right, &left));
    }

    #[test]
    fn same_attrs_ignores_sensitive_marks() {
        let left = attrs(&[("password", Value::sensitive(Value::string("s")))]);
        let right = attrs(&[("password", Value::string("s"))]);

        assert!(same_attrs(&left, &right));
    }

    #[test]
    fn same_attrs_finds_differences() {
        let base = attrs(&[("a", Value::string("x")), ("m", Value::Number(1.0))]);
        let changed = attrs(&[("a", Value::string("x")), ("m", Value::Number(2.0))]);
        let extra = attrs(&[("a", Value::string("x")), ("m", Value::Number(1.0)), ("z", Value::Bool(false))]);
        let missing = attrs(&[("m", Value::Number(1.0))]);

        assert!(!same_attrs(&base, &changed));
        assert!(!same_attrs(&base, &extra));
        assert!(!same_attrs(&extra, &base));
        assert!(!same_attrs(&base, &missing));
    }

    #[test]
    fn same_value_compares_nested_data() {
        let map = |value: Value| Value::map(attrs(&[("k", value)]).into_map());

        assert!(same_value(&map(Value::sensitive(Value::string("v"))), &map(Value::string("v"))));
        assert!(!same_value(&map(Value::string("v")), &map(Value::string("w"))));
        assert!(!same_value(&Value::list(vec![Value::Null]), &Value::List(tenancy_sdk::ThinVec::new())));
    }
}
