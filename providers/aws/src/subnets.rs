//! `aws_subnets`: a tenant's subnets as one resource, one subnet per CIDR
//! block, spread over the region's availability zones in name order.
//!
//! The resource's id is the subnet ids joined by commas. Only the tags
//! change in place; the blocks, the VPC and the region force new subnets.

use std::collections::HashMap;

use aws_sdk_ec2::types::{AvailabilityZoneState, Filter, ResourceType, Subnet};
use ipnet::IpNet;
use tenancy_sdk::{Attrs, Value};

use crate::attrs::{self, Tenant};
use crate::error::{Error, api};
use crate::tags::{self, Tags};
use crate::vpc::{FILTER_VALUES, finish, tenant_attrs_from_tags};

/// Subnets as configured.
#[derive(Debug, Clone)]
pub struct SubnetsSpec {
    /// Owner, region and tags.
    pub tenant: Tenant,
    /// The VPC the subnets belong to.
    pub vpc_id: String,
    /// One IPv4 CIDR block per subnet.
    pub cidrs: Vec<IpNet>,
}

impl SubnetsSpec {
    /// Reads and checks the attributes; `vpc_id` must be known.
    pub fn from_attrs(attrs: &Attrs, default_region: &str) -> Result<SubnetsSpec, Error> {
        let tenant = Tenant::from_attrs(attrs, default_region)?;
        let vpc_id = attrs::required_string(attrs, "vpc_id")?;
        let cidrs = check_cidrs(&attrs::string_list(attrs, "cidrs")?)?;
        Ok(SubnetsSpec { tenant, vpc_id, cidrs })
    }
}

/// Checks a list of subnet blocks: at least one, IPv4, /16 to /28 and no
/// two overlapping.
pub fn check_cidrs(texts: &[String]) -> Result<Vec<IpNet>, Error> {
    if texts.is_empty() {
        return Err(Error::Invalid(
            "`cidrs` is empty; each subnet needs an IPv4 block of /28 or larger, so the network's `cidr` \
             must be large enough to split into `subnet_count` such blocks"
                .into(),
        ));
    }
    let mut cidrs = Vec::with_capacity(texts.len());
    for text in texts {
        let cidr = attrs::network(text, "cidrs")?;
        if !matches!(cidr, IpNet::V4(_)) || !(16..=28).contains(&cidr.prefix_len()) {
            return Err(Error::Invalid(format!("`cidrs` contains {cidr}; a subnet's block is IPv4 with a prefix from /16 to /28")));
        }
        if let Some(other) = cidrs.iter().find(|other: &&IpNet| other.contains(&cidr) || cidr.contains(*other)) {
            return Err(Error::Invalid(format!("`cidrs` contains {other} and {cidr}, which overlap")));
        }
        cidrs.push(cidr);
    }
    Ok(cidrs)
}

/// One subnet as EC2 returned it.
struct Created {
    id: String,
    cidr: String,
    zone: String,
}

fn build(planned: &Attrs, vpc_id: &str, subnets: &[Created], tags: &Tags) -> Attrs {
    let mut computed = build_lists(subnets);
    computed.insert("vpc_id", vpc_id.into());
    computed.insert("tags", tags::to_value(tags));
    finish(planned, computed)
}

/// Creates one subnet per block. When one fails, the subnets created before
/// it are deleted again so that no untracked subnet stays behind.
pub async fn create(client: &aws_sdk_ec2::Client, planned: &Attrs, spec: &SubnetsSpec) -> Result<Attrs, Error> {
    let zones = availability_zones(client, &spec.tenant.region).await?;
    let tags = tags::planned(&spec.tenant);
    let mut created = Vec::with_capacity(spec.cidrs.len());
    for (index, cidr) in spec.cidrs.iter().enumerate() {
        let zone = zones.get(index % zones.len().max(1)).cloned();
        match create_one(client, spec, cidr, zone, &tags).await {
            Ok(subnet) => created.push(subnet),
            Err(error) => {
                let ids: Vec<String> = created.into_iter().map(|subnet| subnet.id).collect();
                if let Err(cleanup) = delete_ids(client, &ids).await {
                    tracing::warn!(error = %cleanup, "failed to delete subnets after a failed create");
                }
                return Err(error);
            }
        }
    }
    Ok(build(planned, &spec.vpc_id, &created, &tags))
}

async fn create_one(
    client: &aws_sdk_ec2::Client,
    spec: &SubnetsSpec,
    cidr: &IpNet,
    zone: Option<String>,
    tags: &Tags,
) -> Result<Created, Error> {
    let output = client
        .create_subnet()
        .vpc_id(&spec.vpc_id)
        .cidr_block(cidr.to_string())
        .set_availability_zone(zone.clone())
        .tag_specifications(tags::specification(ResourceType::Subnet, tags))
        .send()
        .await
        .map_err(api(format!("create subnet {cidr} in VPC {}", spec.vpc_id)))?;
    let subnet = output.subnet();
    let id = subnet
        .and_then(Subnet::subnet_id)
        .ok_or_else(|| Error::Invalid(format!("EC2 created subnet {cidr} but returned no id")))?;
    Ok(Created {
        id: id.to_owned(),
        cidr: cidr.to_string(),
        zone: subnet.and_then(Subnet::availability_zone).map(str::to_owned).or(zone).unwrap_or_default(),
    })
}

/// Returns the names of the region's available zones, sorted.
async fn availability_zones(client: &aws_sdk_ec2::Client, region: &str) -> Result<Vec<String>, Error> {
    let output = client
        .describe_availability_zones()
        .send()
        .await
        .map_err(api(format!("list the availability zones of {region}")))?;
    let mut zones: Vec<String> = output
        .availability_zones()
        .iter()
        .filter(|zone| zone.state().is_none_or(|state| *state == AvailabilityZoneState::Available))
        .filter_map(|zone| zone.zone_name().map(str::to_owned))
        .collect();
    zones.sort();
    Ok(zones)
}

/// Puts the planned tags on every subnet whose tags differ from them.
pub async fn update(client: &aws_sdk_ec2::Client, prior: &Attrs, planned: &Attrs, spec: &SubnetsSpec) -> Result<Attrs, Error> {
    let ids = subnet_ids(prior)?;
    let desired = tags::planned(&spec.tenant);
    let found = describe(client, &spec.tenant.region, &ids).await?;
    let mut current = Vec::with_capacity(ids.len());
    for id in &ids {
        let subnet = found
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("subnet {id} does not exist in {}", spec.tenant.region)))?;
        let subnet_tags = tags::from_ec2(subnet.tags());
        if subnet_tags != desired {
            tags::update(client, &[id.clone()], &subnet_tags, &desired).await?;
        }
        current.push(created_from(subnet));
    }
    Ok(build(planned, &spec.vpc_id, &current, &desired))
}

/// Deletes every subnet; subnets that no longer exist count as deleted.
pub async fn delete(client: &aws_sdk_ec2::Client, prior: &Attrs) -> Result<(), Error> {
    delete_ids(client, &subnet_ids(prior)?).await
}

/// Deletes subnets one by one, trying all of them before it returns the
/// first error.
async fn delete_ids(client: &aws_sdk_ec2::Client, ids: &[String]) -> Result<(), Error> {
    let mut first_error = None;
    for id in ids {
        let result = client.delete_subnet().subnet_id(id).send().await.map_err(api(format!("delete subnet {id}")));
        match result {
            Err(error) if !error.is_not_found() => {
                first_error.get_or_insert(error);
            }
            _ => {}
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Reads the subnets of many resources of one region in as few
/// `DescribeSubnets` calls as the filter limit allows. A resource whose
/// subnets were all deleted reads as `None`. One that lost some of them
/// reads with the rest, so the plan shows the missing blocks and replaces it.
pub async fn read(client: &aws_sdk_ec2::Client, region: &str, priors: &[&Attrs]) -> Result<Vec<Result<Option<Attrs>, Error>>, Error> {
    let ids: Vec<String> = priors.iter().filter_map(|prior| subnet_ids(prior).ok()).flatten().collect();
    let found = describe(client, region, &ids).await?;
    Ok(priors
        .iter()
        .map(|prior| {
            let subnets: Vec<&Subnet> = subnet_ids(prior)?.iter().filter_map(|id| found.get(id)).collect();
            Ok((!subnets.is_empty()).then(|| current_attrs(prior, &subnets)))
        })
        .collect())
}

/// Returns the prior attributes overwritten with what EC2 has. The tags are
/// those of the first subnet whose tags differ from the recorded ones.
fn current_attrs(prior: &Attrs, subnets: &[&Subnet]) -> Attrs {
    let recorded = tags::from_value(prior.get("tags"));
    let real_tags = subnets
        .iter()
        .map(|subnet| tags::from_ec2(subnet.tags()))
        .find(|subnet_tags| *subnet_tags != recorded)
        .unwrap_or(recorded);
    let created: Vec<Created> = subnets.iter().map(|subnet| created_from(subnet)).collect();
    let mut attrs = prior.clone();
    attrs.extend(build_lists(&created));
    if let Some(vpc_id) = subnets.first().and_then(|subnet| subnet.vpc_id()) {
        attrs.insert("vpc_id", vpc_id.into());
    }
    attrs.insert("tags", tags::to_value(&real_tags));
    attrs
}

/// Returns the attributes made of the subnets alone.
fn build_lists(subnets: &[Created]) -> Attrs {
    let list = |field: fn(&Created) -> &String| Value::List(subnets.iter().map(|subnet| Value::string(field(subnet))).collect());
    let ids: Vec<&str> = subnets.iter().map(|subnet| subnet.id.as_str()).collect();
    let mut attrs = Attrs::new();
    attrs.insert("cidrs", list(|subnet| &subnet.cidr));
    attrs.insert("id", ids.join(",").into());
    attrs.insert("subnet_ids", list(|subnet| &subnet.id));
    attrs.insert("availability_zones", list(|subnet| &subnet.zone));
    attrs
}

fn created_from(subnet: &Subnet) -> Created {
    Created {
        id: subnet.subnet_id().unwrap_or_default().to_owned(),
        cidr: subnet.cidr_block().unwrap_or_default().to_owned(),
        zone: subnet.availability_zone().unwrap_or_default().to_owned(),
    }
}

/// Reads existing subnets by their ids, joined by commas, so that state can
/// adopt them. They must all exist and belong to one VPC.
pub async fn import(client: &aws_sdk_ec2::Client, region: &str, id: &str) -> Result<Attrs, Error> {
    let ids = split_ids(id);
    if ids.is_empty() {
        return Err(Error::Invalid(format!("import id {id:?} names no subnet; use subnet ids joined by commas")));
    }
    let found = describe(client, region, &ids).await?;
    let mut subnets = Vec::with_capacity(ids.len());
    for id in &ids {
        let subnet = found
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("subnet {id} does not exist in {region}")))?;
        subnets.push(subnet);
    }
    let vpc_id = subnets[0].vpc_id().unwrap_or_default();
    if let Some(other) = subnets.iter().find(|subnet| subnet.vpc_id().unwrap_or_default() != vpc_id) {
        return Err(Error::Invalid(format!(
            "subnet {} is in VPC {} but subnet {} is in VPC {vpc_id}; import subnets of one VPC",
            other.subnet_id().unwrap_or_default(),
            other.vpc_id().unwrap_or_default(),
            ids[0]
        )));
    }
    let real_tags = tags::from_ec2(subnets[0].tags());
    let mut attrs = tenant_attrs_from_tags(&real_tags, region);
    attrs.insert("vpc_id", vpc_id.into());
    attrs.insert("tags", tags::to_value(&real_tags));
    let created: Vec<Created> = subnets.iter().map(|subnet| created_from(subnet)).collect();
    attrs.extend(build_lists(&created));
    Ok(attrs)
}

/// Describes subnets by id with the `subnet-id` filter, which skips missing
/// ids where the `SubnetIds` parameter would fail the whole call.
async fn describe(client: &aws_sdk_ec2::Client, region: &str, ids: &[String]) -> Result<HashMap<String, Subnet>, Error> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(FILTER_VALUES) {
        let filter = Filter::builder().name("subnet-id").set_values(Some(chunk.to_vec())).build();
        let mut pages = client.describe_subnets().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api(format!("describe {} subnets in {region}", chunk.len())))?;
            for subnet in page.subnets() {
                if let Some(id) = subnet.subnet_id() {
                    found.insert(id.to_owned(), subnet.clone());
                }
            }
        }
    }
    Ok(found)
}

fn split_ids(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect()
}

fn subnet_ids(attrs: &Attrs) -> Result<Vec<String>, Error> {
    let listed = attrs::string_list(attrs, "subnet_ids").unwrap_or_default();
    let ids = if listed.is_empty() {
        attrs.get("id").and_then(Value::as_str).map(split_ids).unwrap_or_default()
    } else {
        listed
    };
    if ids.is_empty() {
        return Err(Error::Invalid("the state of these subnets has no `subnet_ids`; import them again by their ids".into()));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn overlapping_blocks_are_rejected() {
        let error = check_cidrs(&texts(&["10.1.0.0/17", "10.1.0.0/24"])).unwrap_err();

        assert!(error.to_string().contains("overlap"), "{error}");
    }

    #[test]
    fn empty_block_list_is_rejected() {
        assert!(check_cidrs(&[]).is_err());
    }

    #[test]
    fn ids_split_on_commas() {
        assert_eq!(split_ids("subnet-1, subnet-2,"), texts(&["subnet-1", "subnet-2"]));
    }
}
