//! Plans: the schema-driven plan of the SDK, plus the values this provider
//! can compute before apply: defaults, ids, file paths and trial end dates.

use std::path::Path;
use std::sync::OnceLock;

use tenancy_sdk::{Attrs, PlannedChange, ResourceSchema, ThinVec, Value, plan_with_defaults};

use crate::attrs::{check_magnitude, quote_list, set, validate_name, validate_tenant_id};
use crate::database::{file_path, url_for};
use crate::error::{Result, SqliteError};
use crate::schemas::ResourceType;
use crate::tables::subscription::trial_end;
use crate::tables::tenant::STATUSES;
use crate::tenant_file::JOURNAL_MODES;

/// Returns the value an optional attribute takes when configuration leaves
/// it out, for the attributes that have one.
fn default_value(kind: ResourceType, name: &str) -> Option<Value> {
    let value = match (kind, name) {
        (ResourceType::Tenant, "status") => Value::string(STATUSES[0]),
        (ResourceType::Tenant, "databases") => Value::List(ThinVec::new()),
        (ResourceType::Monitoring, "enabled") => Value::Bool(true),
        (ResourceType::Database, "journal_mode") => Value::string(JOURNAL_MODES[0]),
        (ResourceType::Database, "secure_delete" | "audit_logging" | "encryption_at_rest") => {
            Value::Bool(false)
        }
        _ => return None,
    };
    Some(value)
}

/// Returns the schema of a resource type. The schemas are built once per
/// process, because a plan of many resources would build them again for each.
fn cached_schema(kind: ResourceType) -> &'static ResourceSchema {
    static SCHEMAS: OnceLock<Vec<ResourceSchema>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        ResourceType::ALL
            .into_iter()
            .map(ResourceType::schema)
            .collect()
    });
    let position = ResourceType::ALL
        .iter()
        .position(|candidate| *candidate == kind)
        .expect("ResourceType::ALL lists every resource type");
    &schemas[position]
}

/// Returns the string value of an attribute when it is known and set.
fn known_str<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs
        .get(name)
        .filter(|value| !value.contains_unknown())?
        .as_str()
}

/// Plans a change of one resource. `data_dir` is the configured directory
/// of tenant databases, when the provider is configured.
pub fn plan(
    kind: ResourceType,
    prior: Option<&Attrs>,
    config: &Attrs,
    data_dir: Option<&Path>,
) -> Result<PlannedChange> {
    validate_known(kind, config)?;
    let schema = cached_schema(kind);
    let mut change = plan_with_defaults(schema, prior, config, |name| default_value(kind, name));

    if let Some(key) = known_str(config, kind.key_attribute()) {
        set(&mut change.planned, "id", Value::string(key));
    }
    match kind {
        ResourceType::Subscription => plan_trial(&mut change, prior),
        ResourceType::Database => plan_location(&mut change, prior, data_dir),
        _ => {}
    }
    Ok(change)
}

/// Computes `trial_ends_at` from the recorded `started_at` when the
/// subscription keeps its start. `status` is known only for a no-op: after
/// any write it depends on the time of apply.
fn plan_trial(change: &mut PlannedChange, prior: Option<&Attrs>) {
    let kept_start = prior
        .filter(|_| change.requires_replace.is_empty())
        .and_then(|prior| known_str(prior, "started_at"))
        .map(str::to_owned);
    let Some(started_at) = kept_start else {
        return;
    };
    let trial_days = change
        .planned
        .get("trial_days")
        .cloned()
        .unwrap_or(Value::Null);
    let ends = if trial_days.contains_unknown() {
        Value::Unknown
    } else {
        trial_end(&started_at, trial_days.as_i64()).map_or(Value::Null, Value::string)
    };
    set(&mut change.planned, "started_at", Value::string(started_at));
    set(&mut change.planned, "trial_ends_at", ends);

    let unchanged = prior.is_some_and(|prior| equal_except_status(prior, &change.planned));
    if !unchanged {
        set(&mut change.planned, "status", Value::Unknown);
    }
}

/// Returns true when two attribute sets are equal in everything but
/// `status`.
fn equal_except_status(left: &Attrs, right: &Attrs) -> bool {
    let left = left.iter().filter(|(name, _)| name.as_str() != "status");
    let right = right.iter().filter(|(name, _)| name.as_str() != "status");
    left.eq(right)
}

/// Fills in the file path and URL, which follow from `data_dir` and the
/// tenant id. A recorded path that differs forces a replacement, because
/// apply never moves a file: the new path gets its own file, and the old
/// one is left in place.
fn plan_location(change: &mut PlannedChange, prior: Option<&Attrs>, data_dir: Option<&Path>) {
    let Some(data_dir) = data_dir else {
        return;
    };
    let Some(tenant_id) = known_str(&change.planned, "tenant_id") else {
        return;
    };
    let path = file_path(data_dir, tenant_id);
    set(&mut change.planned, "url", Value::string(url_for(&path)));
    let path = path.to_string_lossy().into_owned();
    let moved = prior
        .and_then(|prior| known_str(prior, "path"))
        .is_some_and(|recorded| Path::new(recorded) != Path::new(&path));
    if moved && !change.requires_replace.iter().any(|name| name == "path") {
        change.requires_replace.push("path".to_owned());
    }
    set(&mut change.planned, "path", Value::string(path));
}

/// Rejects known values that apply would reject, so the plan fails early.
fn validate_known(kind: ResourceType, config: &Attrs) -> Result<()> {
    let subject = kind.name();
    match kind.key_attribute() {
        "tenant_id" => {
            if let Some(tenant_id) = known_str(config, "tenant_id") {
                validate_tenant_id(subject, tenant_id)?;
            }
        }
        key => {
            if let Some(name) = known_str(config, key) {
                validate_name(subject, key, name)?;
            }
        }
    }
    validate_numbers(subject, config)?;
    let choices: &[&str] = match kind {
        ResourceType::Tenant => &STATUSES,
        ResourceType::Database => &JOURNAL_MODES,
        _ => return Ok(()),
    };
    let attribute = if kind == ResourceType::Tenant {
        "status"
    } else {
        "journal_mode"
    };
    match known_str(config, attribute) {
        Some(value) if !choices.contains(&value) => Err(SqliteError::invalid(
            subject,
            format!(
                "attribute `{attribute}` is `{value}`, but it must be one of {}",
                quote_list(choices)
            ),
        )),
        _ => Ok(()),
    }
}

/// Rejects known numbers, and known numbers in maps, beyond the range that
/// their attribute accepts.
fn validate_numbers(subject: &str, config: &Attrs) -> Result<()> {
    for (name, value) in config {
        if let Some(number) = value.as_f64() {
            check_magnitude(subject, name, None, number)?;
        }
        let Some(map) = value.as_map() else {
            continue;
        };
        for (key, item) in map {
            if let Some(number) = item.as_f64() {
                check_magnitude(subject, name, Some(key), number)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::attrs_from;

    #[test]
    fn subscription_update_plans_new_trial_end() {
        let prior = attrs_from([
            ("id", "acme".into()),
            ("tenant_id", "acme".into()),
            ("trial_days", Value::Number(14.0)),
            ("started_at", "2025-01-01T00:00:00Z".into()),
            ("trial_ends_at", "2025-01-15T00:00:00Z".into()),
            ("status", "active".into()),
        ]);
        let config = attrs_from([
            ("tenant_id", "acme".into()),
            ("trial_days", Value::Number(30.0)),
        ]);

        let change = plan(ResourceType::Subscription, Some(&prior), &config, None).unwrap();

        assert_eq!(
            change.planned["trial_ends_at"],
            Value::string("2025-01-31T00:00:00Z")
        );
        assert_eq!(
            change.planned["started_at"],
            Value::string("2025-01-01T00:00:00Z")
        );
        assert_eq!(change.planned["status"], Value::Unknown);
    }

    #[test]
    fn create_plans_defaults_id_and_path() {
        let config = attrs_from([("tenant_id", "acme".into())]);

        let change = plan(
            ResourceType::Database,
            None,
            &config,
            Some(Path::new("/data")),
        )
        .unwrap();

        assert_eq!(change.planned["id"], Value::string("acme"));
        assert_eq!(change.planned["journal_mode"], Value::string("wal"));
        assert_eq!(change.planned["path"], Value::string("/data/acme.db"));
        assert_eq!(
            change.planned["url"],
            Value::string("sqlite:///data/acme.db")
        );
    }

    #[test]
    fn huge_trial_days_fails_plan() {
        let config = attrs_from([("name", "pro".into()), ("trial_days", Value::Number(1e300))]);

        let error = plan(ResourceType::Tier, None, &config, None).unwrap_err();

        assert_eq!(
            error.to_string(),
            "catalog_tier: attribute `trial_days` is 1e300, but it must be at most 3650"
        );
    }

    #[test]
    fn invalid_status_fails_plan() {
        let config = attrs_from([("tenant_id", "acme".into()), ("status", "gone".into())]);

        let error = plan(ResourceType::Tenant, None, &config, None).unwrap_err();

        assert!(error.to_string().contains("`status` is `gone`"));
    }
}
