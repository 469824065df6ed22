//! Refresh: reads the real objects behind every resource in state.
//!
//! Resources are grouped by provider instance and each provider receives
//! one batched read, so a provider that can answer many objects with one
//! query (the catalog) does so.

use std::collections::{BTreeMap, HashMap};

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
    /// Resources as read from the real world; deleted objects are absent.
    pub resources: BTreeMap<String, ResourceState>,
    /// Differences between state and the real objects.
    pub drift: Vec<Drift>,
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

    // Each batch keeps the recorded resources in request order, so results
    // pair with them by position rather than by a lookup of the address.
    let mut batches = Vec::new();
    let mut reads = Vec::new();
    let mut kept = Vec::new();
    for (instance_name, resources) in by_instance {
        let Some(instance) = registry.get(instance_name) else {
            kept.extend(resources.into_iter().map(|resource| (resource.address.clone(), resource.clone())));
            continue;
        };
        let provider = instance.provider.clone();
        let requests: Vec<ReadRequest> = resources
            .iter()
            .map(|resource| ReadRequest {
                type_name: resource.type_name.clone(),
                address: resource.address.clone(),
                prior: resource.attrs.clone(),
            })
            .collect();
        reads.push(async move { provider.read(&requests).await });
        batches.push((sensitive_by_type(instance), resources));
    }
    let started = std::time::Instant::now();
    let finished = futures_join_all(reads).await;
    tracing::debug!(elapsed = ?started.elapsed(), "providers read the recorded objects");

    let mut entries = kept;
    let mut drift = Vec::new();
    let mut errors = Vec::new();
    for ((sensitive, recorded), results) in batches.into_iter().zip(finished) {
        for (recorded, result) in recorded.into_iter().zip(results) {
            match result {
                Ok(Some(attrs)) => {
                    let names = sensitive.get(recorded.type_name.as_str()).map_or(&[][..], Vec::as_slice);
                    let mut attrs = attrs;
                    carry_marks(&mut attrs, &recorded.attrs);
                    let mut attrs = mark_attrs(attrs, names);
                    if attrs == recorded.attrs {
                        // The recorded set serves in place of an equal one,
                        // so state, the refreshed resource and the plan
                        // share one copy.
                        attrs = recorded.attrs.clone();
                    } else if !same_attrs(&recorded.attrs, &attrs) {
                        drift.push(self::drift(recorded, Some(attrs.clone())));
                    }
                    let resource = ResourceState {
                        address: recorded.address.clone(),
                        type_name: recorded.type_name.clone(),
                        provider: recorded.provider.clone(),
                        attrs,
                        dependencies: recorded.dependencies.clone(),
                    };
                    entries.push((recorded.address.clone(), resource));
                }
                Ok(None) => drift.push(self::drift(recorded, None)),
                Err(error) => errors.push(RefreshError {
                    address: recorded.address.clone(),
                    message: tenancy_sdk::redact_sensitive(&error.message, recorded.attrs.values()),
                    hint: error.hint,
                }),
            }
        }
    }
    if errors.is_empty() {
        drift.sort_by(|left, right| left.address.cmp(&right.address));
        Ok(Refreshed {
            resources: entries.into_iter().collect(),
            drift,
        })
    } else {
        Err(errors)
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

/// Runs futures concurrently on the current task and returns their outputs
/// in order.
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output>
where
    F: Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(output) => outputs.push(output),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    outputs
}

fn drift(recorded: &ResourceState, after: Option<Attrs>) -> Drift {
    Drift {
        address: recorded.address.clone(),
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
        .and_then(|instance| instance.schemas.get(&resource.type_name));
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
    use super::*;

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
        let map = |value: Value| Value::Map(attrs(&[("k", value)]).into_map());

        assert!(same_value(&map(Value::sensitive(Value::string("v"))), &map(Value::string("v"))));
        assert!(!same_value(&map(Value::string("v")), &map(Value::string("w"))));
        assert!(!same_value(&Value::List(vec![Value::Null]), &Value::List(Vec::new())));
    }
}
