//! Tags on the tenant's EC2 objects.
//!
//! Every object carries `Name=tenancy-<tenant_id>`, `tenancy:tenant`,
//! `tenancy:tier` and, when the tenant has one, `tenancy:policy`. The `tags`
//! attribute contains the full set, so a tag changed, added or removed by hand
//! shows as drift and apply puts the planned set back. Keys that start with
//! `aws:` belong to AWS, cannot be changed and are left out.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use tenancy_sdk::Value;

use crate::attrs::Tenant;
use crate::error::{Error, api};

/// Tag keys and values of one object.
pub type Tags = BTreeMap<String, String>;

/// The tag that names the tenant.
pub const TENANT_TAG: &str = "tenancy:tenant";

/// The tag that names the tenant's tier.
pub const TIER_TAG: &str = "tenancy:tier";

/// The tag that names the tenant's security policy.
pub const POLICY_TAG: &str = "tenancy:policy";

/// Returns the tags a tenant's objects carry.
pub fn planned(tenant: &Tenant) -> Tags {
    let mut tags = Tags::new();
    tags.insert("Name".into(), tenant.name());
    tags.insert(TENANT_TAG.into(), tenant.tenant_id.clone());
    if let Some(tier) = &tenant.tier {
        tags.insert(TIER_TAG.into(), tier.clone());
    }
    if let Some(policy) = &tenant.security_policy {
        tags.insert(POLICY_TAG.into(), policy.clone());
    }
    tags
}

/// Converts tags into the value of the `tags` attribute.
pub fn to_value(tags: &Tags) -> Value {
    Value::Map(tags.iter().map(|(key, value)| (key.clone(), Value::string(value))).collect())
}

/// Reads the `tags` attribute; anything but a map of strings reads as empty.
pub fn from_value(value: Option<&Value>) -> Tags {
    let Some(map) = value.and_then(Value::as_map) else {
        return Tags::new();
    };
    map.iter()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// Collects the tags EC2 returned, without the `aws:` keys.
pub fn from_ec2(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned())))
        .filter(|(key, _)| !key.starts_with("aws:"))
        .collect()
}

/// Returns the tag specification that tags an object as it is created.
pub fn specification(resource_type: ResourceType, tags: &Tags) -> TagSpecification {
    let tags = tags.iter().map(|(key, value)| Tag::builder().key(key).value(value).build());
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(tags.collect()))
        .build()
}

/// Changes the tags of objects from `current` to `desired` with one
/// `CreateTags` call for new and changed values and one `DeleteTags` call for
/// keys to remove, each only when needed.
pub async fn update(client: &aws_sdk_ec2::Client, resource_ids: &[String], current: &Tags, desired: &Tags) -> Result<(), Error> {
    let changed: Vec<Tag> = desired
        .iter()
        .filter(|(key, value)| current.get(*key) != Some(*value))
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect();
    let removed: Vec<Tag> = current
        .keys()
        .filter(|key| !desired.contains_key(*key))
        .map(|key| Tag::builder().key(key).build())
        .collect();
    let objects = resource_ids.join(", ");

    if !changed.is_empty() {
        client
            .create_tags()
            .set_resources(Some(resource_ids.to_vec()))
            .set_tags(Some(changed))
            .send()
            .await
            .map_err(api(format!("tag {objects}")))?;
    }
    if !removed.is_empty() {
        client
            .delete_tags()
            .set_resources(Some(resource_ids.to_vec()))
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(api(format!("remove tags from {objects}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_tags_skip_missing_policy() {
        let tenant = Tenant {
            tenant_id: "acme".into(),
            region: "us-east-1".into(),
            tier: Some("pro".into()),
            security_policy: None,
        };

        let tags = planned(&tenant);

        assert_eq!(tags.get("Name").map(String::as_str), Some("tenancy-acme"));
        assert_eq!(tags.get(TENANT_TAG).map(String::as_str), Some("acme"));
        assert_eq!(tags.get(TIER_TAG).map(String::as_str), Some("pro"));
        assert!(!tags.contains_key(POLICY_TAG));
    }

    #[test]
    fn ec2_tags_drop_aws_keys() {
        let tags = [
            Tag::builder().key("aws:cloudformation:stack-name").value("x").build(),
            Tag::builder().key("Name").value("tenancy-acme").build(),
        ];

        let read = from_ec2(&tags);

        assert_eq!(read.len(), 1);
        assert!(read.contains_key("Name"));
    }

    #[test]
    fn value_round_trips() {
        let mut tags = Tags::new();
        tags.insert("Name".into(), "tenancy-acme".into());

        assert_eq!(from_value(Some(&to_value(&tags))), tags);
    }
}
