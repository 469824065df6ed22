//! One tenant bucket: its name and label rules, the JSON bodies the provider
//! sends, and the attributes it reads back.
//!
//! ## Reading what a server leaves out
//!
//! Cloud Storage omits a setting from a bucket resource when it is unset:
//! no `labels` when there are none, no `retentionPolicy` when there is no
//! policy. Emulators also omit settings they do not model at all:
//! fake-gcs-server drops labels, retention policies and `iamConfiguration`.
//! [`observed_attrs`] distinguishes the two by `iamConfiguration`, which
//! Cloud Storage returns for every bucket:
//!
//! - A response with `iamConfiguration` models every setting, so an absent
//!   `labels`, `versioning` or `retentionPolicy` reads as "none" and a
//!   setting removed by hand shows as drift.
//! - A response without it comes from a server that does not model bucket
//!   settings fully, so an absent field keeps the value recorded in state.
//!
//! In both cases a field that is present is taken as it is: a value that
//! differs from state is drift.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use tenancy_sdk::{Attrs, Value, ValueMap};

use crate::error::Error;

/// Seconds in a retention day.
pub const SECONDS_PER_DAY: u64 = 86_400;

/// The maximum retention period that Cloud Storage accepts, 3,155,760,000
/// seconds, in whole days.
pub const MAX_RETENTION_DAYS: u64 = 36_524;

/// The label keys that the provider sets from the tenant.
pub const PROVIDER_LABELS: [&str; 3] = ["tenant", "tier", "policy"];

/// The settings of a bucket that the provider creates and updates.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketSpec {
    /// The bucket name, global across Cloud Storage.
    pub name: String,
    /// The location in upper case, such as `EUROPE-WEST1`.
    pub location: String,
    /// Every label of the bucket.
    pub labels: BTreeMap<String, String>,
    /// Whether object versioning is on.
    pub versioning: bool,
    /// The retention period in days, if the bucket has a retention policy.
    pub retention_days: Option<u64>,
}

impl BucketSpec {
    /// Reads the spec from planned attributes.
    pub fn from_attrs(attrs: &Attrs) -> Result<BucketSpec, Error> {
        let name = string_attr(attrs, "name")?;
        check_bucket_name(&name)?;
        let location = string_attr(attrs, "location")?;
        let labels = match attrs.get("labels").map(Value::unmarked) {
            Some(Value::Map(map)) => map
                .iter()
                .map(|(key, value)| Ok((key.clone(), label_string(key, value)?)))
                .collect::<Result<_, Error>>()?,
            _ => BTreeMap::new(),
        };
        let versioning = attrs
            .get("versioning")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let retention_days = retention_days(attrs.get("retention_days"))?;
        Ok(BucketSpec {
            name,
            location,
            labels,
            versioning,
            retention_days,
        })
    }

    /// Returns the body of a bucket insert request.
    pub fn insert_body(&self) -> Json {
        let mut body = json!({
            "name": self.name,
            "location": self.location,
            "labels": self.labels,
            "versioning": {"enabled": self.versioning},
            "iamConfiguration": iam_configuration(),
        });
        if let Some(days) = self.retention_days {
            body["retentionPolicy"] = retention_policy(days);
        }
        body
    }

    /// Returns the body of a bucket patch request that sets every managed
    /// setting. A patch merges labels, so each label in `current_labels` that
    /// the spec lacks is sent as `null`, which deletes it.
    pub fn patch_body(&self, current_labels: &[String]) -> Json {
        let mut labels: serde_json::Map<String, Json> = self
            .labels
            .iter()
            .map(|(key, value)| (key.clone(), Json::from(value.as_str())))
            .collect();
        for key in current_labels {
            labels.entry(key.clone()).or_insert(Json::Null);
        }
        json!({
            "labels": labels,
            "versioning": {"enabled": self.versioning},
            "iamConfiguration": iam_configuration(),
            "retentionPolicy": self.retention_days.map_or(Json::Null, retention_policy),
        })
    }
}

fn iam_configuration() -> Json {
    json!({
        "uniformBucketLevelAccess": {"enabled": true},
        "publicAccessPrevention": "enforced",
    })
}

fn retention_policy(days: u64) -> Json {
    // The API carries int64 fields as decimal strings.
    json!({"retentionPeriod": (days * SECONDS_PER_DAY).to_string()})
}

fn string_attr(attrs: &Attrs, name: &str) -> Result<String, Error> {
    attrs
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid(format!("attribute `{name}` must be a string")))
}

fn label_string(key: &str, value: &Value) -> Result<String, Error> {
    value.as_str().map(str::to_owned).ok_or_else(|| {
        Error::Invalid(format!(
            "label `{key}` must be a string, not {}",
            value.type_name()
        ))
    })
}

/// Reads `retention_days`: null, or a whole number of days from 0 to
/// [`MAX_RETENTION_DAYS`]; 0 means no retention policy.
pub fn retention_days(value: Option<&Value>) -> Result<Option<u64>, Error> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    let days = value
        .as_i64()
        .filter(|days| (0..=MAX_RETENTION_DAYS as i64).contains(days));
    match days {
        Some(0) => Ok(None),
        Some(days) => Ok(Some(days as u64)),
        None => Err(Error::Invalid(format!(
            "`retention_days` is {value}, but it must be a whole number from 0 to {MAX_RETENTION_DAYS}"
        ))),
    }
}

/// Checks a bucket name against Cloud Storage's naming rules.
pub fn check_bucket_name(name: &str) -> Result<(), Error> {
    let problem = bucket_name_problem(name);
    match problem {
        None => Ok(()),
        Some(reason) => Err(Error::Invalid(format!(
            "invalid bucket name `{name}`: {reason}"
        ))),
    }
}

fn bucket_name_problem(name: &str) -> Option<&'static str> {
    let max_len = if name.contains('.') { 222 } else { 63 };
    if name.len() < 3 || name.len() > max_len {
        return Some("a name has 3 to 63 characters (222 with dots, at most 63 between dots)");
    }
    if name
        .split('.')
        .any(|part| part.is_empty() || part.len() > 63)
    {
        return Some("each dot-separated part has 1 to 63 characters");
    }
    let allowed = |character: char| {
        character.is_ascii_lowercase()
            || character.is_ascii_digit()
            || matches!(character, '-' | '_' | '.')
    };
    if !name.chars().all(allowed) {
        return Some("only lower-case letters, digits, `-`, `_` and `.` are allowed");
    }
    let alphanumeric =
        |character: char| character.is_ascii_lowercase() || character.is_ascii_digit();
    if !name.starts_with(alphanumeric) || !name.ends_with(alphanumeric) {
        return Some("a name starts and ends with a letter or digit");
    }
    if name.starts_with("goog") || name.contains("google") {
        return Some("a name may not start with `goog` or contain `google`");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("a name may not be an IP address");
    }
    None
}

/// Returns the default bucket name `PREFIX-TENANT`, with the tenant ID in
/// lower case and every character other than a letter or digit as `-`.
pub fn default_bucket_name(prefix: &str, tenant_id: &str) -> String {
    let tenant: String = tenant_id
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{tenant}")
}

/// Turns a value into a valid label value: lower case, at most 63
/// characters, with every character other than `a-z`, `0-9`, `_` and `-`
/// replaced by `_`.
pub fn label_value(text: &str) -> String {
    text.chars()
        .map(|character| {
            let lower = character.to_ascii_lowercase();
            if lower.is_ascii_lowercase() || lower.is_ascii_digit() || matches!(lower, '_' | '-') {
                lower
            } else {
                '_'
            }
        })
        .take(63)
        .collect()
}

/// Checks a configured label against Cloud Storage's label rules.
pub fn check_label(key: &str, value: &str) -> Result<(), Error> {
    let valid_char = |character: char| {
        character.is_ascii_lowercase()
            || character.is_ascii_digit()
            || matches!(character, '_' | '-')
    };
    let key_ok = !key.is_empty()
        && key.len() <= 63
        && key.starts_with(|character: char| character.is_ascii_lowercase())
        && key.chars().all(valid_char);
    if !key_ok {
        return Err(Error::Invalid(format!(
            "invalid label key `{key}`: a key has 1 to 63 lower-case letters, digits, `_` or `-` and starts with a letter"
        )));
    }
    if value.len() > 63 || !value.chars().all(valid_char) {
        return Err(Error::Invalid(format!(
            "invalid value `{value}` of label `{key}`: a value has at most 63 lower-case letters, digits, `_` or `-`"
        )));
    }
    Ok(())
}

/// Returns the prior attributes updated with what the bucket resource
/// contains, following the rule in the module documentation.
pub fn observed_attrs(prior: &Attrs, bucket: &Json) -> Attrs {
    let mut attrs = prior.clone();
    let models_every_setting = bucket.get("iamConfiguration").is_some();
    let mut set = |name: &str, value: Option<Value>, unset: Value| {
        match value {
            Some(value) => attrs.insert(name.to_owned(), value),
            // A prior value that is still unknown (the planned attributes
            // of a create) has nothing to keep.
            None if models_every_setting || prior.get(name).is_none_or(Value::is_unknown) => {
                attrs.insert(name.to_owned(), unset)
            }
            None => None,
        };
    };

    set("name", text(bucket, &["name"]), Value::Null);
    set(
        "id",
        text(bucket, &["id"]).or_else(|| text(bucket, &["name"])),
        Value::Null,
    );
    set("self_link", text(bucket, &["selfLink"]), Value::Null);
    set(
        "location",
        text(bucket, &["location"]).map(|location| {
            Value::string(location.as_str().unwrap_or_default().to_ascii_uppercase())
        }),
        Value::Null,
    );
    set(
        "labels",
        bucket.get("labels").map(Value::from_json),
        Value::Map(ValueMap::new()),
    );
    set(
        "versioning",
        bucket
            .pointer("/versioning/enabled")
            .and_then(Json::as_bool)
            .map(Value::Bool),
        Value::Bool(false),
    );

    let policy = bucket
        .get("retentionPolicy")
        .filter(|policy| !policy.is_null());
    let days = policy
        .and_then(|policy| seconds(policy.get("retentionPeriod")))
        .map(|seconds| Value::Number(seconds / SECONDS_PER_DAY as f64));
    let locked = policy.map(|policy| {
        Value::Bool(
            policy
                .get("isLocked")
                .and_then(Json::as_bool)
                .unwrap_or(false),
        )
    });
    set("retention_days", days, Value::Null);
    set("retention_locked", locked, Value::Bool(false));

    let uniform = bucket
        .pointer("/iamConfiguration/uniformBucketLevelAccess/enabled")
        .and_then(Json::as_bool)
        .map(Value::Bool);
    set("uniform_bucket_level_access", uniform, Value::Null);
    set(
        "public_access_prevention",
        text(bucket, &["iamConfiguration", "publicAccessPrevention"]),
        Value::Null,
    );
    attrs
}

fn text(json: &Json, path: &[&str]) -> Option<Value> {
    let mut current = json;
    for key in path {
        current = current.get(key)?;
    }
    current.as_str().map(Value::string)
}

/// Reads an int64 field, which the API sends as a string but some servers
/// send as a number.
fn seconds(value: Option<&Json>) -> Option<f64> {
    match value? {
        Json::String(text) => text.parse::<f64>().ok(),
        Json::Number(number) => number.as_f64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BucketSpec {
        BucketSpec {
            name: "acme-tenants-acme".to_owned(),
            location: "EUROPE-WEST1".to_owned(),
            labels: [("tenant", "acme"), ("tier", "pro")]
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
            versioning: true,
            retention_days: Some(30),
        }
    }

    fn prior() -> Attrs {
        let labels: BTreeMap<String, Value> = [("tenant".to_owned(), Value::string("acme"))].into();
        [
            ("name", Value::string("acme-tenants-acme")),
            ("labels", Value::map(labels)),
            ("versioning", Value::Bool(true)),
            ("retention_days", Value::Number(30.0)),
            ("retention_locked", Value::Bool(false)),
            ("uniform_bucket_level_access", Value::Bool(true)),
            ("public_access_prevention", Value::string("enforced")),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }

    #[test]
    fn insert_body_carries_every_setting() {
        let body = spec().insert_body();

        assert_eq!(body["name"], "acme-tenants-acme");
        assert_eq!(body["location"], "EUROPE-WEST1");
        assert_eq!(body["labels"], json!({"tenant": "acme", "tier": "pro"}));
        assert_eq!(body["versioning"], json!({"enabled": true}));
        assert_eq!(
            body["retentionPolicy"],
            json!({"retentionPeriod": "2592000"})
        );
        assert_eq!(
            body["iamConfiguration"]["uniformBucketLevelAccess"],
            json!({"enabled": true})
        );
        assert_eq!(
            body["iamConfiguration"]["publicAccessPrevention"],
            "enforced"
        );
    }

    #[test]
    fn patch_body_removes_stale_labels_and_retention() {
        let mut spec = spec();
        spec.retention_days = None;

        let body = spec.patch_body(&["tenant".to_owned(), "owner".to_owned()]);

        assert_eq!(
            body["labels"],
            json!({"tenant": "acme", "tier": "pro", "owner": null})
        );
        assert_eq!(body["retentionPolicy"], Json::Null);
        assert_eq!(body["versioning"], json!({"enabled": true}));
        assert!(body.get("location").is_none());
    }

    #[test]
    fn partial_response_keeps_prior_for_missing_fields() {
        let bucket = json!({"name": "acme-tenants-acme", "id": "acme-tenants-acme", "location": "US-CENTRAL1",
            "versioning": {"enabled": false}, "selfLink": "http://127.0.0.1:4443/storage/v1/b/acme-tenants-acme"});

        let attrs = observed_attrs(&prior(), &bucket);

        assert_eq!(attrs["labels"], prior()["labels"]);
        assert_eq!(attrs["retention_days"], Value::Number(30.0));
        assert_eq!(attrs["uniform_bucket_level_access"], Value::Bool(true));
        assert_eq!(
            attrs["versioning"],
            Value::Bool(false),
            "a present field is drift"
        );
        assert_eq!(attrs["location"], Value::string("US-CENTRAL1"));
    }

    #[test]
    fn full_response_reads_missing_fields_as_unset() {
        let bucket = json!({"name": "acme-tenants-acme", "location": "europe-west1",
            "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": true}, "publicAccessPrevention": "inherited"}});

        let attrs = observed_attrs(&prior(), &bucket);

        assert_eq!(attrs["labels"], Value::Map(ValueMap::new()));
        assert_eq!(attrs["retention_days"], Value::Null);
        assert_eq!(attrs["versioning"], Value::Bool(false));
        assert_eq!(
            attrs["public_access_prevention"],
            Value::string("inherited")
        );
        assert_eq!(attrs["location"], Value::string("EUROPE-WEST1"));
        assert_eq!(attrs["id"], Value::string("acme-tenants-acme"));
    }

    #[test]
    fn partial_response_replaces_unknown_prior() {
        let mut planned = prior();
        planned.insert("retention_locked".to_owned(), Value::Unknown);
        planned.insert("self_link".to_owned(), Value::Unknown);
        let bucket = json!({"name": "acme-tenants-acme", "selfLink": "http://127.0.0.1:4443/storage/v1/b/x"});

        let attrs = observed_attrs(&planned, &bucket);

        assert_eq!(attrs["retention_locked"], Value::Bool(false));
        assert_eq!(
            attrs["self_link"],
            Value::string("http://127.0.0.1:4443/storage/v1/b/x")
        );
        assert_eq!(attrs["retention_days"], Value::Number(30.0));
    }

    #[test]
    fn retention_policy_reads_days_and_lock() {
        let bucket = json!({"name": "b", "iamConfiguration": {},
            "retentionPolicy": {"retentionPeriod": "864000", "isLocked": true}});

        let attrs = observed_attrs(&Attrs::new(), &bucket);

        assert_eq!(attrs["retention_days"], Value::Number(10.0));
        assert_eq!(attrs["retention_locked"], Value::Bool(true));
    }

    #[test]
    fn bucket_names_follow_cloud_storage_rules() {
        for valid in ["abc", "acme-tenants-acme", "a_b.c-d", "tenant1"] {
            assert!(check_bucket_name(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "ab",
            "Acme",
            "-acme",
            "acme-",
            "googacme",
            "my-google-bucket",
            "192.168.5.4",
            "a..b",
        ] {
            assert!(check_bucket_name(invalid).is_err(), "{invalid}");
        }
        assert!(check_bucket_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn default_name_replaces_underscores() {
        assert_eq!(
            default_bucket_name("acme-tenants", "north_wind"),
            "acme-tenants-north-wind"
        );
        assert_eq!(default_bucket_name("p", "Studio.Berlin"), "p-studio-berlin");
    }

    #[test]
    fn label_values_are_sanitized() {
        assert_eq!(label_value("EU Strict"), "eu_strict");
        assert_eq!(label_value(&"x".repeat(70)).len(), 63);
        assert!(check_label("owner", "team-a").is_ok());
        assert!(check_label("Owner", "a").is_err());
        assert!(check_label("owner", "Team A").is_err());
    }

    #[test]
    fn retention_days_accept_whole_days_only() {
        assert_eq!(
            retention_days(Some(&Value::Number(30.0))).unwrap(),
            Some(30)
        );
        assert_eq!(retention_days(Some(&Value::Number(0.0))).unwrap(), None);
        assert_eq!(retention_days(None).unwrap(), None);
        assert!(retention_days(Some(&Value::Number(1.5))).is_err());
        assert!(retention_days(Some(&Value::Number(-1.0))).is_err());
        assert!(retention_days(Some(&Value::Number(40_000.0))).is_err());
    }
}
