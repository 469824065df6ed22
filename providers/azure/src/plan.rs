//! Planning of `azure_container`: the schema's plan plus the values the
//! provider can compute before apply (the default name, the full metadata,
//! the id, the URL and private access), so a plan after apply shows no change.

use tenancy_sdk::{Attrs, PlannedChange, Value, plan_by_schema};

use crate::account::ContainerState;
use crate::container::{
    PRIVATE_ACCESS, check_name, configured_metadata, container_schema, default_name, full_metadata, metadata_value,
};
use crate::error::Error;
use crate::settings::ProviderSettings;

/// The inputs the metadata is computed from.
const METADATA_INPUTS: [&str; 4] = ["metadata", "tenant_id", "tier", "security_policy"];

/// Plans a container from its prior attributes (none on create) and its
/// configuration. `settings` gives the URL; without them it is unknown.
pub fn plan_container(
    prior: Option<&Attrs>,
    config: &Attrs,
    settings: Option<&ProviderSettings>,
) -> Result<PlannedChange, Error> {
    check_versioning(config)?;
    let mut config = config.clone();

    let name = planned_name(&config)?;
    if let Some(name) = name.as_str() {
        check_name(name)?;
    }
    config.insert("name", name.clone());

    let inputs_known = METADATA_INPUTS
        .iter()
        .all(|input| !config.get(*input).is_some_and(Value::contains_unknown));
    let metadata = if inputs_known {
        let configured = configured_metadata(&config, false)?;
        metadata_value(&full_metadata(&config, &configured)?)
    } else {
        Value::Unknown
    };
    config.insert("metadata", metadata);

    let mut change = plan_by_schema(&container_schema(), prior, &config);
    let planned = &mut change.planned;
    planned.insert("public_access", PRIVATE_ACCESS.into());
    match (name.as_str(), settings) {
        (Some(name), Some(settings)) => {
            planned.insert("id", name.into());
            planned.insert("url", settings.container_url(name).into());
        }
        (Some(name), None) => {
            planned.insert("id", name.into());
            planned.insert("url", Value::Unknown);
        }
        (None, _) => {
            planned.insert("id", Value::Unknown);
            planned.insert("url", Value::Unknown);
        }
    }
    Ok(change)
}

/// Rejects `versioning = true` from a storage block. Blob versioning is a
/// setting of the whole storage account, which a container cannot turn on,
/// and planning without it would promise versions that are never kept.
fn check_versioning(config: &Attrs) -> Result<(), Error> {
    if config.get("versioning").and_then(Value::as_bool) == Some(true) {
        return Err(Error::Invalid(
            "`versioning = true` cannot be applied to one container: blob versioning is a setting of the \
             whole storage account. Turn it on for the account and remove `versioning` from the storage block"
                .into(),
        ));
    }
    Ok(())
}

/// Returns the configured name, or the default derived from `tenant_id`
/// (unknown while the tenant id is).
fn planned_name(config: &Attrs) -> Result<Value, Error> {
    if let Some(name) = config.get("name").filter(|value| !value.is_null()) {
        return match name.unmarked() {
            Value::String(_) | Value::Unknown => Ok(name.unmarked().clone()),
            other => Err(Error::Invalid(format!("`name` must be a string, but it is a {}", other.type_name()))),
        };
    }
    match config.get("tenant_id").map(Value::unmarked) {
        Some(Value::String(tenant_id)) => Ok(default_name(tenant_id)?.into()),
        Some(Value::Unknown) => Ok(Value::Unknown),
        _ => Err(Error::Invalid("`tenant_id` is required".into())),
    }
}

/// Returns the prior attributes overwritten with what the service has, so
/// that metadata or public access changed by hand shows as drift.
pub fn current_attrs(prior: &Attrs, state: &ContainerState, settings: &ProviderSettings) -> Attrs {
    let mut attrs = prior.clone();
    attrs.insert("name", state.name.clone().into());
    attrs.insert("id", state.name.clone().into());
    attrs.insert("url", settings.container_url(&state.name).into());
    attrs.insert("metadata", metadata_value(&state.metadata));
    attrs.insert("public_access", state.public_access.clone().into());
    attrs
}

/// Returns the attributes of a container found by name, for import. The
/// inputs come from the provider's metadata keys. Without a `tenant` key,
/// `tenant_id` is the name with `-` replaced by `_`. The service does not
/// report a region, so `region` is null.
pub fn imported_attrs(state: &ContainerState, settings: &ProviderSettings) -> Attrs {
    let from_metadata = |key: &str| state.metadata.get(key).map_or(Value::Null, Value::string);
    let tenant_id = match state.metadata.get("tenant") {
        Some(tenant) => Value::string(tenant),
        None => Value::string(state.name.replace('-', "_")),
    };
    let mut prior = Attrs::new();
    prior.insert("tenant_id", tenant_id);
    prior.insert("tier", from_metadata("tier"));
    prior.insert("security_policy", from_metadata("policy"));
    prior.insert("region", Value::Null);
    current_attrs(&prior, state, settings)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::settings::{DEVELOPMENT_ACCOUNT_KEY, DEVELOPMENT_ACCOUNT_NAME, DEVELOPMENT_ENDPOINT, parse};

    fn settings() -> ProviderSettings {
        let config: Attrs = [
            ("account_name", DEVELOPMENT_ACCOUNT_NAME),
            ("account_key", DEVELOPMENT_ACCOUNT_KEY),
            ("endpoint", DEVELOPMENT_ENDPOINT),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), Value::string(value)))
        .collect();
        parse(&config).unwrap()
    }

    fn config() -> Attrs {
        let mut config = Attrs::new();
        config.insert("tenant_id", "acme_corp".into());
        config.insert("tier", "pro".into());
        config.insert("security_policy", "strict".into());
        config.insert("region", "westeurope".into());
        config.insert("versioning", false.into());
        config
    }

    #[test]
    fn create_plans_known_values() {
        let change = plan_container(None, &config(), Some(&settings())).unwrap();
        let planned = &change.planned;

        assert_eq!(planned["name"], Value::string("acme-corp"));
        assert_eq!(planned["id"], Value::string("acme-corp"));
        assert_eq!(planned["url"], Value::string("http://127.0.0.1:10000/devstoreaccount1/acme-corp"));
        assert_eq!(planned["public_access"], Value::string("none"));
        let metadata = planned["metadata"].as_map().unwrap();
        assert_eq!(metadata["tenant"], Value::string("acme_corp"));
        assert_eq!(metadata["tier"], Value::string("pro"));
        assert_eq!(metadata["policy"], Value::string("strict"));
        assert!(!planned.contains_key("versioning"));
    }

    #[test]
    fn plan_after_create_equals_prior() {
        let first = plan_container(None, &config(), Some(&settings())).unwrap();

        let second = plan_container(Some(&first.planned), &config(), Some(&settings())).unwrap();

        assert_eq!(second.planned, first.planned);
        assert!(second.requires_replace.is_empty());
    }

    #[test]
    fn tenant_change_replaces_by_name_and_tenant() {
        let first = plan_container(None, &config(), Some(&settings())).unwrap();
        let mut changed = config();
        changed.insert("tenant_id", "globex".into());

        let second = plan_container(Some(&first.planned), &changed, Some(&settings())).unwrap();

        assert_eq!(second.requires_replace, vec!["tenant_id".to_owned(), "name".to_owned()]);
    }

    #[test]
    fn tier_change_updates_metadata_in_place() {
        let first = plan_container(None, &config(), Some(&settings())).unwrap();
        let mut changed = config();
        changed.insert("tier", "enterprise".into());

        let second = plan_container(Some(&first.planned), &changed, Some(&settings())).unwrap();

        assert!(second.requires_replace.is_empty());
        assert_eq!(second.planned["metadata"].as_map().unwrap()["tier"], Value::string("enterprise"));
    }

    #[test]
    fn unknown_tenant_plans_unknown_name() {
        let mut config = config();
        config.insert("tenant_id", Value::Unknown);

        let change = plan_container(None, &config, Some(&settings())).unwrap();

        assert_eq!(change.planned["name"], Value::Unknown);
        assert_eq!(change.planned["metadata"], Value::Unknown);
        assert_eq!(change.planned["url"], Value::Unknown);
    }

    #[test]
    fn invalid_configured_name_is_rejected() {
        let mut config = config();
        config.insert("name", "Bad_Name".into());

        let error = plan_container(None, &config, Some(&settings())).unwrap_err();

        assert!(error.to_string().contains("container name `Bad_Name` is invalid"), "{error}");
    }

    #[test]
    fn versioning_true_is_rejected() {
        let mut config = config();
        config.insert("versioning", true.into());

        let error = plan_container(None, &config, Some(&settings())).unwrap_err();

        assert!(error.to_string().contains("whole storage account"), "{error}");
    }

    #[test]
    fn import_reads_inputs_from_metadata() {
        let metadata: BTreeMap<String, String> = [("tenant", "acme_corp"), ("tier", "pro")]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        let state = ContainerState {
            name: "acme-corp".into(),
            metadata,
            public_access: "none".into(),
        };

        let attrs = imported_attrs(&state, &settings());

        assert_eq!(attrs["tenant_id"], Value::string("acme_corp"));
        assert_eq!(attrs["tier"], Value::string("pro"));
        assert_eq!(attrs["security_policy"], Value::Null);
        assert_eq!(attrs["id"], Value::string("acme-corp"));
    }
}
