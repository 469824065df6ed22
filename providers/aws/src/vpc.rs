//! `aws_vpc`: one VPC per tenant network, tagged with the tenant, tier and
//! policy. Only the tags change in place; the CIDR block, region and tenant
//! id force a new VPC.

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Vpc};
use ipnet::IpNet;
use tenancy_sdk::{Attrs, Value};

use crate::attrs::{self, Tenant};
use crate::error::{Error, api};
use crate::tags::{self, POLICY_TAG, TENANT_TAG, TIER_TAG, Tags};

/// The maximum number of values EC2 accepts in one filter.
pub const FILTER_VALUES: usize = 200;

/// A VPC as configured.
#[derive(Debug, Clone)]
pub struct VpcSpec {
    /// Owner, region and tags.
    pub tenant: Tenant,
    /// The IPv4 CIDR block.
    pub cidr: IpNet,
}

impl VpcSpec {
    /// Reads and checks a VPC's attributes.
    pub fn from_attrs(attrs: &Attrs, default_region: &str) -> Result<VpcSpec, Error> {
        let tenant = Tenant::from_attrs(attrs, default_region)?;
        let cidr = attrs::network(&attrs::required_string(attrs, "cidr")?, "cidr")?;
        if !matches!(cidr, IpNet::V4(_)) {
            return Err(Error::Invalid(format!("`cidr` {cidr} is an IPv6 block; a VPC's primary block is IPv4, such as 10.1.0.0/16")));
        }
        if !(16..=28).contains(&cidr.prefix_len()) {
            return Err(Error::Invalid(format!(
                "`cidr` {cidr} has a /{} prefix; a VPC's block is between /16 and /28",
                cidr.prefix_len()
            )));
        }
        Ok(VpcSpec { tenant, cidr })
    }
}

/// Returns the planned attributes completed with what apply learned, so the
/// result matches the plan in every configured attribute.
pub fn finish(planned: &Attrs, computed: Attrs) -> Attrs {
    let mut attrs = planned.clone();
    attrs.extend(computed);
    attrs
}

fn computed(vpc_id: &str, tags: &Tags) -> Attrs {
    let mut attrs = Attrs::new();
    attrs.insert("tags", tags::to_value(tags));
    attrs.insert("id", vpc_id.into());
    attrs.insert("vpc_id", vpc_id.into());
    attrs
}

/// Returns the shared attributes an imported object's tags record; the
/// tenant id is null when the object has no `tenancy:tenant` tag.
pub fn tenant_attrs_from_tags(tags: &Tags, region: &str) -> Attrs {
    let tag = |key: &str| tags.get(key).map_or(Value::Null, |value| Value::string(value));
    let mut attrs = Attrs::new();
    attrs.insert("tenant_id", tag(TENANT_TAG));
    attrs.insert("region", region.into());
    attrs.insert("tier", tag(TIER_TAG));
    attrs.insert("security_policy", tag(POLICY_TAG));
    attrs
}

/// Creates the VPC, tagged as it is created.
pub async fn create(client: &aws_sdk_ec2::Client, planned: &Attrs, spec: &VpcSpec) -> Result<Attrs, Error> {
    let tags = tags::planned(&spec.tenant);
    let output = client
        .create_vpc()
        .cidr_block(spec.cidr.to_string())
        .tag_specifications(tags::specification(ResourceType::Vpc, &tags))
        .send()
        .await
        .map_err(api(format!("create VPC {} in {}", spec.cidr, spec.tenant.region)))?;
    let vpc_id = output
        .vpc()
        .and_then(Vpc::vpc_id)
        .ok_or_else(|| Error::Invalid(format!("EC2 created VPC {} but returned no id", spec.cidr)))?;
    Ok(finish(planned, computed(vpc_id, &tags)))
}

/// Puts the planned tags on the VPC.
pub async fn update(client: &aws_sdk_ec2::Client, prior: &Attrs, planned: &Attrs, spec: &VpcSpec) -> Result<Attrs, Error> {
    let vpc_id = vpc_id(prior)?;
    let desired = tags::planned(&spec.tenant);
    tags::update(client, &[vpc_id.clone()], &tags::from_value(prior.get("tags")), &desired).await?;
    Ok(finish(planned, computed(&vpc_id, &desired)))
}

/// Deletes the VPC; one that no longer exists counts as deleted.
pub async fn delete(client: &aws_sdk_ec2::Client, prior: &Attrs) -> Result<(), Error> {
    let vpc_id = vpc_id(prior)?;
    let result = client
        .delete_vpc()
        .vpc_id(&vpc_id)
        .send()
        .await
        .map_err(api(format!("delete VPC {vpc_id}")));
    match result {
        Err(error) if error.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Reads many VPCs of one region with as few `DescribeVpcs` calls as the
/// filter limit allows. Returns one entry per prior: `None` when the VPC is
/// gone, an error when the prior has no VPC id.
pub async fn read(client: &aws_sdk_ec2::Client, region: &str, priors: &[&Attrs]) -> Result<Vec<Result<Option<Attrs>, Error>>, Error> {
    let ids: Vec<String> = priors.iter().filter_map(|prior| vpc_id(prior).ok()).collect();
    let found = describe(client, region, &ids).await?;
    Ok(priors
        .iter()
        .map(|prior| {
            let id = vpc_id(prior)?;
            Ok(found.get(&id).map(|vpc| current_attrs(prior, vpc)))
        })
        .collect())
}

/// Reads an existing VPC by id so that state can adopt it.
pub async fn import(client: &aws_sdk_ec2::Client, region: &str, id: &str) -> Result<Attrs, Error> {
    let found = describe(client, region, &[id.to_owned()]).await?;
    let vpc = found
        .get(id)
        .ok_or_else(|| Error::NotFound(format!("VPC {id} does not exist in {region}")))?;
    let real_tags = tags::from_ec2(vpc.tags());
    let mut attrs = tenant_attrs_from_tags(&real_tags, region);
    attrs.insert("cidr", vpc.cidr_block().map_or(Value::Null, Value::from));
    attrs.extend(computed(id, &real_tags));
    Ok(attrs)
}

/// Returns the prior attributes overwritten with what EC2 has.
fn current_attrs(prior: &Attrs, vpc: &Vpc) -> Attrs {
    let mut attrs = prior.clone();
    attrs.insert("cidr", vpc.cidr_block().map_or(Value::Null, Value::from));
    attrs.extend(computed(vpc.vpc_id().unwrap_or_default(), &tags::from_ec2(vpc.tags())));
    attrs
}

/// Describes VPCs by id with the `vpc-id` filter, which skips missing ids
/// where the `VpcIds` parameter would fail the whole call.
pub async fn describe(client: &aws_sdk_ec2::Client, region: &str, ids: &[String]) -> Result<HashMap<String, Vpc>, Error> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(FILTER_VALUES) {
        let filter = Filter::builder().name("vpc-id").set_values(Some(chunk.to_vec())).build();
        let mut pages = client.describe_vpcs().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api(format!("describe {} VPCs in {region}", chunk.len())))?;
            for vpc in page.vpcs() {
                if let Some(id) = vpc.vpc_id() {
                    found.insert(id.to_owned(), vpc.clone());
                }
            }
        }
    }
    Ok(found)
}

fn vpc_id(attrs: &Attrs) -> Result<String, Error> {
    ["vpc_id", "id"]
        .iter()
        .find_map(|name| attrs.get(*name).and_then(Value::as_str).filter(|id| !id.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid("the state of this VPC has no `vpc_id`; import the VPC again by its id".into()))
}
