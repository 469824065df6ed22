//! The `azure_container` resource type: its schema, the container name and
//! metadata rules of the Blob service, and the conversion between attributes
//! and a [`ContainerSpec`].

use std::collections::BTreeMap;

use tenancy_sdk::{AttrType, AttributeSchema, Attrs, ResourceSchema, Value};

use crate::error::Error;

/// The resource type name.
pub const CONTAINER_TYPE: &str = "azure_container";

/// Metadata keys the provider sets from the resource's inputs, and the
/// attribute each one comes from.
pub const PROVIDER_METADATA: [(&str, &str); 3] =
    [("tenant", "tenant_id"), ("tier", "tier"), ("policy", "security_policy")];

/// The value of `public_access` for a private container.
pub const PRIVATE_ACCESS: &str = "none";

/// The maximum total size of a container's metadata names and values, 8 KiB.
const MAX_METADATA_BYTES: usize = 8 * 1024;

/// Returns the schema of `azure_container`.
pub fn container_schema() -> ResourceSchema {
    let optional_computed = |name, attr_type, description| AttributeSchema {
        computed: true,
        ..AttributeSchema::optional(name, attr_type, description)
    };
    ResourceSchema {
        type_name: CONTAINER_TYPE,
        description: "A tenant's private Blob Storage container in one storage account.",
        attributes: vec![
            AttributeSchema::required("tenant_id", AttrType::String, "The tenant id.").force_new(),
            optional_computed(
                "name",
                AttrType::String,
                "The container name; defaults to the tenant id in lowercase with `_` replaced by `-`.",
            )
            .force_new(),
            AttributeSchema::optional("tier", AttrType::String, "The tenant's tier, written to metadata key `tier`."),
            AttributeSchema::optional(
                "security_policy",
                AttrType::String,
                "The tenant's security policy, written to metadata key `policy`.",
            ),
            AttributeSchema::optional(
                "region",
                AttrType::String,
                "The tenant's region, recorded in state only: the storage account fixes the region.",
            ),
            optional_computed(
                "metadata",
                AttrType::StringMap,
                "Container metadata: the configured keys plus `tenant`, `tier` and `policy`.",
            ),
            AttributeSchema::computed(
                "public_access",
                AttrType::String,
                "The container's public access level: `none`, `blob` or `container`.",
            ),
            AttributeSchema::computed("id", AttrType::String, "The container name, which identifies the resource."),
            AttributeSchema::computed("url", AttrType::String, "The container's URL."),
        ],
    }
}

/// The desired state of one `azure_container`, read from planned or prior
/// attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The tenant id.
    pub tenant_id: String,
    /// The container name.
    pub name: String,
    /// The complete metadata to set on the container.
    pub metadata: BTreeMap<String, String>,
}

impl ContainerSpec {
    /// Reads a spec from attributes whose values are all known. A missing
    /// `name` takes the default, and the provider's metadata keys are
    /// recomputed from the inputs.
    pub fn from_attrs(attrs: &Attrs) -> Result<Self, Error> {
        let tenant_id = string_attr(attrs, "tenant_id")?
            .ok_or_else(|| Error::Invalid("`tenant_id` is required".into()))?;
        let name = match string_attr(attrs, "name")? {
            Some(name) => name,
            None => default_name(&tenant_id)?,
        };
        check_name(&name)?;
        let metadata = full_metadata(attrs, &configured_metadata(attrs, true)?)?;
        Ok(Self {
            tenant_id,
            name,
            metadata,
        })
    }
}

/// Returns the string value of an attribute, `None` when null or absent.
pub fn string_attr(attrs: &Attrs, name: &str) -> Result<Option<String>, Error> {
    match attrs.get(name).map(Value::unmarked) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.to_string())),
        Some(Value::Unknown) => Err(Error::Invalid(format!("`{name}` is not known yet"))),
        Some(other) => Err(Error::Invalid(format!(
            "`{name}` must be a string, but it is a {}",
            other.type_name()
        ))),
    }
}

/// Derives the default container name from a tenant id: lowercase, with
/// `_` replaced by `-`.
pub fn default_name(tenant_id: &str) -> Result<String, Error> {
    let name = tenant_id.to_lowercase().replace('_', "-");
    check_name(&name).map_err(|error| {
        Error::Invalid(format!(
            "the container name `{name}` derived from tenant id `{tenant_id}` is invalid ({error}); \
             set `name` in the storage block"
        ))
    })?;
    Ok(name)
}

/// Checks the Blob service's container name rules: 3 to 63 characters of
/// lowercase letters, digits and `-`, starting and ending with a letter or
/// digit, with no `--`.
pub fn check_name(name: &str) -> Result<(), Error> {
    let reason = if !(3..=63).contains(&name.len()) {
        Some("a container name has 3 to 63 characters")
    } else if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        Some("a container name has only lowercase letters, digits and `-`")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("a container name starts and ends with a letter or digit")
    } else if name.contains("--") {
        Some("a container name has no two `-` in a row")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::Invalid(format!("container name `{name}` is invalid: {reason}"))),
        None => Ok(()),
    }
}

/// Reads and checks the `metadata` map of the attributes. With
/// `allow_provider_keys` false (a configuration), the keys the provider
/// sets are rejected; otherwise (planned or prior attributes) they are
/// dropped, to be recomputed.
pub fn configured_metadata(attrs: &Attrs, allow_provider_keys: bool) -> Result<BTreeMap<String, String>, Error> {
    let map = match attrs.get("metadata").map(Value::unmarked) {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Map(map)) => map,
        Some(other) => {
            return Err(Error::Invalid(format!(
                "`metadata` must be a map of strings, but it is a {}",
                other.type_name()
            )));
        }
    };
    let mut metadata = BTreeMap::new();
    for (key, value) in map {
        if let Some((_, source)) = PROVIDER_METADATA.iter().find(|(reserved, _)| reserved == key) {
            if allow_provider_keys {
                continue;
            }
            return Err(Error::Invalid(format!(
                "`metadata` key `{key}` is set by the provider from `{source}`; remove it or use another key"
            )));
        }
        let Some(text) = value.as_str() else {
            return Err(Error::Invalid(format!(
                "`metadata` value of `{key}` must be a string, but it is a {}",
                value.type_name()
            )));
        };
        check_metadata_key(key)?;
        check_metadata_value(key, text)?;
        metadata.insert(key.clone(), text.to_owned());
    }
    Ok(metadata)
}

/// Returns the metadata to set: the configured keys plus the provider's
/// keys taken from `tenant_id`, `tier` and `security_policy` (a null input
/// leaves its key out).
pub fn full_metadata(attrs: &Attrs, configured: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Error> {
    let mut metadata = configured.clone();
    for (key, source) in PROVIDER_METADATA {
        if let Some(value) = string_attr(attrs, source)? {
            check_metadata_value(key, &value)
                .map_err(|error| Error::Invalid(format!("`{source}` cannot be written to metadata: {error}")))?;
            metadata.insert(key.to_owned(), value);
        }
    }
    let size: usize = metadata.iter().map(|(key, value)| key.len() + value.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(Error::Invalid(format!(
            "`metadata` has {size} bytes of names and values, over the Blob service's limit of {MAX_METADATA_BYTES}"
        )));
    }
    Ok(metadata)
}

/// Checks that a metadata key is a lowercase C# identifier. The service
/// compares names without case and HTTP header names reach it lowercased,
/// so an uppercase key would read back changed and show as drift.
fn check_metadata_key(key: &str) -> Result<(), Error> {
    let mut chars = key.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid_start && valid_rest {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "`metadata` key `{key}` is invalid: use lowercase letters, digits and `_`, starting with a letter or `_`"
    )))
}

/// Checks that a metadata value can travel as an HTTP header value, read
/// back unchanged and be signed the same way by every service: printable
/// ASCII, no space at either end and no two spaces in a row (see
/// `shared_key::canonicalized_headers`).
fn check_metadata_value(key: &str, value: &str) -> Result<(), Error> {
    let reason = if !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        Some("only printable ASCII characters and spaces are allowed")
    } else if value.trim() != value {
        Some("it starts or ends with a space, which the service drops")
    } else if value.contains("  ") {
        Some("it has two spaces in a row, which Shared Key signing does not treat alike everywhere")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::Invalid(format!("`metadata` value of `{key}` is invalid: {reason}"))),
        None => Ok(()),
    }
}

/// Converts metadata into an attribute value.
pub fn metadata_value(metadata: &BTreeMap<String, String>) -> Value {
    Value::Map(
        metadata
            .iter()
            .map(|(key, value)| (key.clone(), Value::string(value)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    fn map(pairs: &[(&str, &str)]) -> Value {
        Value::Map(pairs.iter().map(|(key, value)| (key.to_string(), Value::string(*value))).collect())
    }

    #[test]
    fn default_name_lowercases_and_replaces_underscores() {
        assert_eq!(default_name("Acme_Corp").unwrap(), "acme-corp");
    }

    #[test]
    fn short_tenant_id_asks_for_name() {
        let error = default_name("ab").unwrap_err().to_string();

        assert!(error.contains("3 to 63"), "{error}");
        assert!(error.contains("set `name`"), "{error}");
    }

    #[test]
    fn container_names_follow_service_rules() {
        for valid in ["abc", "acme-corp", "a1-b2-c3", &"x".repeat(63)] {
            assert!(check_name(valid).is_ok(), "{valid}");
        }
        for invalid in ["ab", "-abc", "abc-", "a--b", "Acme", "a_b", "a.b", &"x".repeat(64)] {
            assert!(check_name(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn spec_adds_provider_metadata() {
        let spec = ContainerSpec::from_attrs(&attrs(&[
            ("tenant_id", "acme_corp".into()),
            ("tier", "pro".into()),
            ("security_policy", Value::Null),
            ("metadata", map(&[("team", "data")])),
        ]))
        .unwrap();

        assert_eq!(spec.name, "acme-corp");
        let expected: BTreeMap<String, String> = [("team", "data"), ("tenant", "acme_corp"), ("tier", "pro")]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        assert_eq!(spec.metadata, expected);
    }

    #[test]
    fn spec_recomputes_stale_provider_keys() {
        let spec = ContainerSpec::from_attrs(&attrs(&[
            ("tenant_id", "acme".into()),
            ("tier", "enterprise".into()),
            ("metadata", map(&[("tier", "pro"), ("tenant", "acme")])),
        ]))
        .unwrap();

        assert_eq!(spec.metadata["tier"], "enterprise");
    }

    #[test]
    fn configured_provider_key_is_rejected() {
        let error = configured_metadata(&attrs(&[("metadata", map(&[("tier", "x")]))]), false).unwrap_err();

        assert!(error.to_string().contains("set by the provider from `tier`"), "{error}");
    }

    #[test]
    fn uppercase_metadata_key_is_rejected() {
        let error = configured_metadata(&attrs(&[("metadata", map(&[("Team", "x")]))]), false).unwrap_err();

        assert!(error.to_string().contains("lowercase"), "{error}");
    }

    #[test]
    fn metadata_value_with_newline_is_rejected() {
        let error = configured_metadata(&attrs(&[("metadata", map(&[("note", "a\nb")]))]), false).unwrap_err();

        assert!(error.to_string().contains("printable ASCII"), "{error}");
    }

    #[test]
    fn metadata_value_with_double_space_is_rejected() {
        let error = configured_metadata(&attrs(&[("metadata", map(&[("note", "a  b")]))]), false).unwrap_err();

        assert!(error.to_string().contains("two spaces"), "{error}");
    }

    #[test]
    fn oversized_metadata_is_rejected() {
        let big = "x".repeat(MAX_METADATA_BYTES);
        let error = ContainerSpec::from_attrs(&attrs(&[
            ("tenant_id", "acme".into()),
            ("metadata", map(&[("note", &big)])),
        ]))
        .unwrap_err();

        assert!(error.to_string().contains("limit"), "{error}");
    }
}
