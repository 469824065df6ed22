//! The in-memory state: what each resource looked like after its last apply.
//!
//! This model does not read or write files. [`crate::state::format`] turns it
//! into the versioned JSON document and back, and the backends store that
//! document.

use std::collections::BTreeMap;

use tenancy_sdk::{ArcStr, Attrs, Name, Value};

/// The version of tenancy recorded in the state files and lock records it
/// writes.
pub const TENANCY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The recorded state of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Identity of this state, fixed when it is created: a UUID v4. Writing
    /// a state of one lineage over a state of another is rejected.
    pub lineage: String,
    /// Number of the last write, incremented on every write. A fresh state
    /// has serial 0 until its first write.
    pub serial: u64,
    /// Version of tenancy that last wrote the state.
    pub tenancy_version: String,
    /// Resources keyed by address, such as `tenant.acme.database.postgres`.
    pub resources: BTreeMap<ArcStr, ResourceState>,
    /// Output values keyed by output name.
    pub outputs: BTreeMap<String, OutputState>,
}

/// The recorded attributes of one resource after its last apply.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceState {
    /// The resource address, equal to its key in [`State::resources`],
    /// which shares its text.
    pub address: ArcStr,
    /// The resource type, such as `postgres_database`.
    pub type_name: Name,
    /// The provider instance name, such as `sqlite` or `postgres.eu`.
    pub provider: Name,
    /// The attributes the provider returned; sensitive values carry the
    /// sensitive mark.
    pub attrs: Attrs,
    /// Addresses of the resources this one depends on.
    pub dependencies: Vec<ArcStr>,
}

/// One recorded output value.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputState {
    /// The value; nested sensitive values carry the sensitive mark.
    pub value: Value,
    /// Whether the output is declared sensitive.
    pub sensitive: bool,
}

impl State {
    /// Creates an empty state with a fresh lineage and serial 0.
    pub fn new() -> Self {
        State {
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            tenancy_version: TENANCY_VERSION.to_owned(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Creates an empty state of an existing lineage at the given serial.
    pub fn with_lineage(lineage: impl Into<String>, serial: u64) -> Self {
        State {
            lineage: lineage.into(),
            serial,
            ..State::new()
        }
    }

    /// Returns the resource at `address`, if recorded.
    pub fn resource(&self, address: &str) -> Option<&ResourceState> {
        self.resources.get(address)
    }

    /// Records a resource under its address, returning the record it replaces.
    pub fn upsert_resource(&mut self, resource: ResourceState) -> Option<ResourceState> {
        self.resources.insert(resource.address.clone(), resource)
    }

    /// Removes the resource at `address`, returning it if it was recorded.
    pub fn remove_resource(&mut self, address: &str) -> Option<ResourceState> {
        self.resources.remove(address)
    }

    /// Returns the serial of the next write, or `None` when the serial is
    /// at its largest value and no later write can be numbered.
    pub fn next_serial(&self) -> Option<u64> {
        self.serial.checked_add(1)
    }

    /// Returns true when the state records no resource and no output.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.outputs.is_empty()
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl ResourceState {
    /// Creates a resource record without dependencies.
    pub fn new(
        address: impl Into<ArcStr>,
        type_name: impl Into<Name>,
        provider: impl Into<Name>,
        attrs: Attrs,
    ) -> Self {
        ResourceState {
            address: address.into(),
            type_name: type_name.into(),
            provider: provider.into(),
            attrs,
            dependencies: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_state_has_fresh_lineage() {
        let first = State::new();
        let second = State::new();

        assert_eq!(first.serial, 0);
        assert_ne!(first.lineage, second.lineage);
        assert!(uuid::Uuid::parse_str(&first.lineage).is_ok());
    }

    #[test]
    fn upsert_replaces_by_address() {
        let mut state = State::new();
        let mut attrs = Attrs::new();
        attrs.insert("name".to_owned(), Value::string("acme"));
        state.upsert_resource(ResourceState::new(
            "tenant.acme",
            "catalog_tenant",
            "sqlite",
            attrs,
        ));

        let previous = state.upsert_resource(ResourceState::new(
            "tenant.acme",
            "catalog_tenant",
            "sqlite",
            Attrs::new(),
        ));

        assert!(previous.is_some());
        assert_eq!(state.resources.len(), 1);
        assert!(state.resource("tenant.acme").unwrap().attrs.is_empty());
    }

    #[test]
    fn remove_returns_removed_resource() {
        let mut state = State::new();
        state.upsert_resource(ResourceState::new(
            "tenant.acme",
            "t",
            "sqlite",
            Attrs::new(),
        ));

        assert!(state.remove_resource("tenant.acme").is_some());
        assert!(state.remove_resource("tenant.acme").is_none());
        assert!(state.is_empty());
    }
}
