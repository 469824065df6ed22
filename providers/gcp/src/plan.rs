//! Planning a `gcp_bucket`: the derived name, location and labels, and the
//! checks that must fail at plan time rather than halfway through apply.

use std::collections::BTreeMap;

use tenancy_sdk::{Attrs, PlannedChange, ProviderError, ResourceSchema, Value, plan_by_schema};

use crate::bucket::{
    PROVIDER_LABELS, check_bucket_name, check_label, default_bucket_name, label_value,
    retention_days,
};
use crate::error::Error;
use crate::location;

/// Plans a bucket from its configured attributes; `name_prefix` starts
/// default bucket names. The engine adds the resource address to errors.
pub fn plan_bucket(
    schema: &ResourceSchema,
    name_prefix: &str,
    prior: Option<&Attrs>,
    config: &Attrs,
) -> Result<PlannedChange, ProviderError> {
    let invalid = |error: Error| ProviderError::new(error.kind(), error.to_string());
    let derived = derive_config(name_prefix, config).map_err(invalid)?;
    check_locked_retention(prior, &derived).map_err(invalid)?;

    let mut change = plan_by_schema(schema, prior, &derived);
    // On replacement, plan_by_schema marks every computed attribute unknown,
    // including the optional ones whose values were derived above.
    for name in ["name", "location", "labels"] {
        change
            .planned
            .insert(name.to_owned(), derived[name].clone());
    }
    // Cloud Storage uses the bucket name as its ID, so it is known now.
    change
        .planned
        .insert("id".to_owned(), derived["name"].clone());
    if let Some(locked) = prior.and_then(|prior| prior.get("retention_locked")) {
        if change.requires_replace.is_empty() {
            change
                .planned
                .insert("retention_locked".to_owned(), locked.clone());
        }
    }
    Ok(change)
}

/// Returns the configuration with every attribute the provider derives
/// filled in: `name`, `location`, `labels`, `versioning` and the settings
/// that are always on.
fn derive_config(name_prefix: &str, config: &Attrs) -> Result<Attrs, Error> {
    let tenant_id = config
        .get("tenant_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::Invalid("`tenant_id` is required and must be a non-empty string".to_owned())
        })?;

    let mut derived = config.clone();
    let name = match non_null(config, "name") {
        Some(value) => value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| type_error("name", "a string", value))?,
        None => default_bucket_name(name_prefix, tenant_id),
    };
    check_bucket_name(&name).map_err(|error| match non_null(config, "name") {
        Some(_) => error,
        None => Error::Invalid(format!(
            "{error}; the name was derived from `bucket_prefix` and the tenant ID, so set `name` on the block"
        )),
    })?;
    derived.insert("name".to_owned(), Value::string(name));
    derived.insert(
        "location".to_owned(),
        Value::string(bucket_location(config)?),
    );
    derived.insert("labels".to_owned(), Value::map(labels(config, tenant_id)?));

    let versioning = match non_null(config, "versioning") {
        Some(value) => value
            .as_bool()
            .ok_or_else(|| type_error("versioning", "a bool", value))?,
        None => false,
    };
    derived.insert("versioning".to_owned(), Value::Bool(versioning));
    let days = retention_days(config.get("retention_days"))?;
    derived.insert(
        "retention_days".to_owned(),
        days.map_or(Value::Null, |days| Value::Number(days as f64)),
    );
    derived.insert("uniform_bucket_level_access".to_owned(), Value::Bool(true));
    derived.insert(
        "public_access_prevention".to_owned(),
        Value::string("enforced"),
    );
    Ok(derived)
}

fn non_null<'a>(config: &'a Attrs, name: &str) -> Option<&'a Value> {
    config.get(name).filter(|value| !value.is_null())
}

fn type_error(name: &str, expected: &str, value: &Value) -> Error {
    Error::Invalid(format!(
        "`{name}` must be {expected}, not {}",
        value.type_name()
    ))
}

/// Chooses the location: the block's `location`, else the tenant's `region`
/// when it is a Cloud Storage location.
fn bucket_location(config: &Attrs) -> Result<String, Error> {
    if let Some(value) = non_null(config, "location") {
        let text = value
            .as_str()
            .ok_or_else(|| type_error("location", "a string", value))?;
        if location::is_known(text) || location::looks_like_region(text) {
            return Ok(location::normalize(text));
        }
        return Err(Error::Invalid(format!(
            "`location` `{text}` is not a Cloud Storage location; valid locations are: {}",
            location::choices()
        )));
    }
    match non_null(config, "region").and_then(Value::as_str) {
        Some(region) if location::is_known(region) => Ok(location::normalize(region)),
        Some(region) => Err(Error::Invalid(format!(
            "the tenant's region `{region}` is not a Cloud Storage location, so set `location` on the \
             storage block; valid locations are: {}",
            location::choices()
        ))),
        None => Err(Error::Invalid(format!(
            "the bucket has no location: set `location` on the storage block or a `region` on the \
             tenant; valid locations are: {}",
            location::choices()
        ))),
    }
}

/// Returns the configured labels plus `tenant`, `tier` and `policy` from
/// the tenant's inputs.
fn labels(config: &Attrs, tenant_id: &str) -> Result<BTreeMap<String, Value>, Error> {
    let mut labels = BTreeMap::new();
    if let Some(value) = non_null(config, "labels") {
        let map = value
            .as_map()
            .ok_or_else(|| type_error("labels", "a map of strings", value))?;
        for (key, value) in map {
            let text = value.as_str().ok_or_else(|| {
                Error::Invalid(format!(
                    "label `{key}` must be a string, not {}",
                    value.type_name()
                ))
            })?;
            if PROVIDER_LABELS.contains(&key.as_str()) {
                return Err(Error::Invalid(format!(
                    "label `{key}` is set by the provider from the tenant; remove it from `labels`"
                )));
            }
            check_label(key, text)?;
            labels.insert(key.clone(), Value::string(text));
        }
    }
    labels.insert("tenant".to_owned(), Value::string(label_value(tenant_id)));
    for (label, input) in [("tier", "tier"), ("policy", "security_policy")] {
        if let Some(text) = non_null(config, input).and_then(Value::as_str) {
            labels.insert(label.to_owned(), Value::string(label_value(text)));
        }
    }
    Ok(labels)
}

/// Rejects a plan that shortens or removes a locked retention policy,
/// which Cloud Storage refuses; a locked policy can only grow.
fn check_locked_retention(prior: Option<&Attrs>, derived: &Attrs) -> Result<(), Error> {
    let Some(prior) = prior else {
        return Ok(());
    };
    let locked = prior
        .get("retention_locked")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let same_bucket = prior.get("name") == derived.get("name");
    if !locked || !same_bucket {
        return Ok(());
    }
    let current = prior
        .get("retention_days")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let planned = derived
        .get("retention_days")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    if planned < current {
        return Err(Error::Invalid(format!(
            "the retention policy of bucket {} is locked at {current} days, so it cannot be lowered to \
             {planned} days or removed; set `retention_days` to {current} or more",
            derived["name"]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_schema;

    fn config(pairs: &[(&str, Value)]) -> Attrs {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.clone()))
            .collect()
    }

    fn tenant() -> Attrs {
        config(&[
            ("tenant_id", "north_wind".into()),
            ("region", "europe-west1".into()),
            ("tier", "pro".into()),
            ("security_policy", "eu_strict".into()),
            ("versioning", true.into()),
            ("retention_days", 30i64.into()),
            ("allowed_networks", Value::Null),
        ])
    }

    fn plan(prior: Option<&Attrs>, config: &Attrs) -> Result<PlannedChange, ProviderError> {
        plan_bucket(&bucket_schema(), "acme", prior, config)
    }

    #[test]
    fn create_derives_name_location_and_labels() {
        let change = plan(None, &tenant()).unwrap();
        let planned = &change.planned;

        assert_eq!(planned["name"], Value::string("acme-north-wind"));
        assert_eq!(planned["id"], Value::string("acme-north-wind"));
        assert_eq!(planned["location"], Value::string("EUROPE-WEST1"));
        let labels = planned["labels"].as_map().unwrap();
        assert_eq!(labels["tenant"], Value::string("north_wind"));
        assert_eq!(labels["tier"], Value::string("pro"));
        assert_eq!(labels["policy"], Value::string("eu_strict"));
        assert_eq!(planned["retention_days"], Value::Number(30.0));
        assert_eq!(planned["uniform_bucket_level_access"], Value::Bool(true));
        assert_eq!(
            planned["public_access_prevention"],
            Value::string("enforced")
        );
        assert_eq!(planned["self_link"], Value::Unknown);
        assert!(!planned.contains_key("allowed_networks"));
    }

    #[test]
    fn aws_style_region_is_rejected_with_choices() {
        let mut config = tenant();
        config.insert("region".to_owned(), "eu-central-1".into());

        let error = plan(None, &config).unwrap_err();

        assert!(
            error.message.contains("`eu-central-1`"),
            "{}",
            error.message
        );
        assert!(error.message.contains("europe-west1"), "{}", error.message);
    }

    #[test]
    fn block_location_wins_over_region() {
        let mut config = tenant();
        config.insert("region".to_owned(), "eu-central-1".into());
        config.insert("location".to_owned(), "eu".into());

        let change = plan(None, &config).unwrap();

        assert_eq!(change.planned["location"], Value::string("EU"));
    }

    #[test]
    fn tier_change_updates_labels_in_place() {
        let prior = plan(None, &tenant()).unwrap().planned;
        let mut config = tenant();
        config.insert("tier".to_owned(), "enterprise".into());

        let change = plan(Some(&prior), &config).unwrap();

        assert!(change.requires_replace.is_empty());
        assert_eq!(
            change.planned["labels"].as_map().unwrap()["tier"],
            Value::string("enterprise")
        );
    }

    #[test]
    fn location_change_requires_replace() {
        let prior = plan(None, &tenant()).unwrap().planned;
        let mut config = tenant();
        config.insert("location".to_owned(), "us-central1".into());

        let change = plan(Some(&prior), &config).unwrap();

        assert_eq!(change.requires_replace, vec!["location".to_owned()]);
        assert_eq!(change.planned["location"], Value::string("US-CENTRAL1"));
        assert_eq!(change.planned["name"], Value::string("acme-north-wind"));
        assert_eq!(change.planned["self_link"], Value::Unknown);
    }

    #[test]
    fn provider_label_in_config_is_rejected() {
        let mut config = tenant();
        let labels: BTreeMap<String, Value> = [("tier".to_owned(), Value::string("gold"))].into();
        config.insert("labels".to_owned(), Value::map(labels));

        let error = plan(None, &config).unwrap_err();

        assert!(error.message.contains("label `tier`"), "{}", error.message);
    }

    #[test]
    fn locked_retention_cannot_shrink() {
        let mut prior = plan(None, &tenant()).unwrap().planned;
        prior.insert("retention_locked".to_owned(), Value::Bool(true));
        let mut config = tenant();
        config.insert("retention_days".to_owned(), 10i64.into());

        let error = plan(Some(&prior), &config).unwrap_err();
        assert!(
            error.message.contains("locked at 30 days"),
            "{}",
            error.message
        );

        config.insert("retention_days".to_owned(), 60i64.into());
        let change = plan(Some(&prior), &config).unwrap();
        assert_eq!(change.planned["retention_locked"], Value::Bool(true));
    }

    #[test]
    fn derived_name_too_long_suggests_name() {
        let mut config = tenant();
        config.insert("tenant_id".to_owned(), "t".repeat(70).into());

        let error = plan(None, &config).unwrap_err();

        assert!(error.message.contains("set `name`"), "{}", error.message);
    }
}
