//! `aws_security_group`: one security group per tenant network that denies
//! ingress by default and opens each port of `ingress_ports` to each block of
//! `allowed_networks`.
//!
//! Ingress rules and tags change in place: apply describes the group, then
//! revokes the rules that are not planned and authorizes the planned rules
//! that are missing, so a rule added or removed by hand is repaired too.
//! Egress keeps the rule EC2 adds to every new group (all traffic out).

use std::collections::HashMap;

use aws_sdk_ec2::types::{Filter, ResourceType, SecurityGroup};
use ipnet::IpNet;
use tenancy_sdk::{Attrs, Value};

use crate::attrs::{self, Tenant};
use crate::error::{Error, api};
use crate::rules::{self, Rule, Source};
use crate::schema::DEFAULT_INGRESS_PORTS;
use crate::tags::{self, Tags};
use crate::vpc::{FILTER_VALUES, finish, tenant_attrs_from_tags};

/// A security group as configured.
#[derive(Debug, Clone)]
pub struct SecurityGroupSpec {
    /// Owner, region and tags.
    pub tenant: Tenant,
    /// The VPC the group belongs to.
    pub vpc_id: String,
    /// The blocks allowed in.
    pub networks: Vec<IpNet>,
    /// The TCP ports open to each allowed block.
    pub ports: Vec<u16>,
}

impl SecurityGroupSpec {
    /// Reads and checks the attributes; `vpc_id` must be known.
    pub fn from_attrs(attrs: &Attrs, default_region: &str) -> Result<SecurityGroupSpec, Error> {
        let tenant = Tenant::from_attrs(attrs, default_region)?;
        let vpc_id = attrs::required_string(attrs, "vpc_id")?;
        let networks = check_networks(&attrs::string_list(attrs, "allowed_networks")?)?;
        let ports = attrs::ports(attrs, "ingress_ports")?.unwrap_or_else(|| DEFAULT_INGRESS_PORTS.to_vec());
        Ok(SecurityGroupSpec {
            tenant,
            vpc_id,
            networks,
            ports,
        })
    }

    /// Returns the planned ingress rules.
    pub fn rules(&self) -> Vec<Rule> {
        rules::desired(&self.networks, &self.ports)
    }

    fn description(&self) -> String {
        let id: String = self.tenant.tenant_id.chars().filter(char::is_ascii_graphic).collect();
        format!("Ingress of tenant {id}, managed by tenancy")
    }
}

/// Parses the allowed networks.
pub fn check_networks(texts: &[String]) -> Result<Vec<IpNet>, Error> {
    texts.iter().map(|text| attrs::network(text, "allowed_networks")).collect()
}

/// Returns the `ingress_rules` value of a list of rules.
pub fn rules_value(rules: &[Rule]) -> Value {
    Value::List(rules.iter().map(|rule| Value::string(rule.to_string())).collect())
}

fn computed(group: &SecurityGroup, rules: &[Rule], tags: &Tags) -> Attrs {
    let id = group.group_id().unwrap_or_default();
    let mut attrs = Attrs::new();
    attrs.insert("vpc_id", group.vpc_id().map_or(Value::Null, Value::from));
    attrs.insert("tags", tags::to_value(tags));
    attrs.insert("ingress_rules", rules_value(rules));
    attrs.insert("id", id.into());
    attrs.insert("group_id", id.into());
    attrs.insert("name", group.group_name().map_or(Value::Null, Value::from));
    attrs
}

/// Creates the group, tagged as it is created, and authorizes the planned
/// rules. When authorizing fails, the group is deleted again.
pub async fn create(client: &aws_sdk_ec2::Client, planned: &Attrs, spec: &SecurityGroupSpec) -> Result<Attrs, Error> {
    let name = spec.tenant.name();
    let tags = tags::planned(&spec.tenant);
    let output = client
        .create_security_group()
        .group_name(&name)
        .description(spec.description())
        .vpc_id(&spec.vpc_id)
        .tag_specifications(tags::specification(ResourceType::SecurityGroup, &tags))
        .send()
        .await
        .map_err(api(format!("create security group {name} in VPC {}", spec.vpc_id)))?;
    let group_id = output
        .group_id()
        .ok_or_else(|| Error::Invalid(format!("EC2 created security group {name} but returned no id")))?
        .to_owned();

    let rules = spec.rules();
    if let Err(error) = authorize(client, &group_id, &rules).await {
        if let Err(cleanup) = delete_id(client, &group_id).await {
            tracing::warn!(error = %cleanup, group_id, "failed to delete a security group after a failed create");
        }
        return Err(error);
    }
    let group = SecurityGroup::builder()
        .group_id(&group_id)
        .group_name(&name)
        .vpc_id(&spec.vpc_id)
        .build();
    Ok(finish(planned, computed(&group, &rules, &tags)))
}

/// Brings the group's ingress rules and tags to the planned ones.
pub async fn update(client: &aws_sdk_ec2::Client, prior: &Attrs, planned: &Attrs, spec: &SecurityGroupSpec) -> Result<Attrs, Error> {
    let group_id = group_id(prior)?;
    let group = describe(client, &spec.tenant.region, &[group_id.clone()])
        .await?
        .remove(&group_id)
        .ok_or_else(|| Error::NotFound(format!("security group {group_id} does not exist in {}", spec.tenant.region)))?;

    let current = rules::from_permissions(group.ip_permissions());
    let desired = spec.rules();
    let extra: Vec<Rule> = current.iter().filter(|rule| !desired.contains(rule)).cloned().collect();
    let missing: Vec<Rule> = desired.iter().filter(|rule| !current.contains(rule)).cloned().collect();
    revoke(client, &group_id, &extra).await?;
    authorize(client, &group_id, &missing).await?;

    let desired_tags = tags::planned(&spec.tenant);
    tags::update(client, &[group_id.clone()], &tags::from_ec2(group.tags()), &desired_tags).await?;
    Ok(finish(planned, computed(&group, &desired, &desired_tags)))
}

async fn authorize(client: &aws_sdk_ec2::Client, group_id: &str, rules: &[Rule]) -> Result<(), Error> {
    if rules.is_empty() {
        return Ok(());
    }
    client
        .authorize_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(rules.iter().map(Rule::to_permission).collect()))
        .send()
        .await
        .map_err(api(format!("authorize {} ingress rules on security group {group_id}", rules.len())))?;
    Ok(())
}

async fn revoke(client: &aws_sdk_ec2::Client, group_id: &str, rules: &[Rule]) -> Result<(), Error> {
    if rules.is_empty() {
        return Ok(());
    }
    client
        .revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(rules.iter().map(Rule::to_permission).collect()))
        .send()
        .await
        .map_err(api(format!("revoke {} ingress rules on security group {group_id}", rules.len())))?;
    Ok(())
}

/// Deletes the group; one that no longer exists counts as deleted.
pub async fn delete(client: &aws_sdk_ec2::Client, prior: &Attrs) -> Result<(), Error> {
    delete_id(client, &group_id(prior)?).await
}

async fn delete_id(client: &aws_sdk_ec2::Client, group_id: &str) -> Result<(), Error> {
    let result = client
        .delete_security_group()
        .group_id(group_id)
        .send()
        .await
        .map_err(api(format!("delete security group {group_id}")));
    match result {
        Err(error) if error.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Reads many groups of one region with as few `DescribeSecurityGroups`
/// calls as the filter limit allows. Returns one entry per prior: `None`
/// when the group is gone.
pub async fn read(client: &aws_sdk_ec2::Client, region: &str, priors: &[&Attrs]) -> Result<Vec<Result<Option<Attrs>, Error>>, Error> {
    let ids: Vec<String> = priors.iter().filter_map(|prior| group_id(prior).ok()).collect();
    let found = describe(client, region, &ids).await?;
    Ok(priors
        .iter()
        .map(|prior| {
            let id = group_id(prior)?;
            Ok(found.get(&id).map(|group| {
                let rules = rules::from_permissions(group.ip_permissions());
                finish(prior, computed(group, &rules, &tags::from_ec2(group.tags())))
            }))
        })
        .collect())
}

/// Reads an existing group by id so that state can adopt it. The allowed
/// networks and ports are taken from its single-port TCP rules.
pub async fn import(client: &aws_sdk_ec2::Client, region: &str, id: &str) -> Result<Attrs, Error> {
    let group = describe(client, region, &[id.to_owned()])
        .await?
        .remove(id)
        .ok_or_else(|| Error::NotFound(format!("security group {id} does not exist in {region}")))?;
    let rules = rules::from_permissions(group.ip_permissions());
    let real_tags = tags::from_ec2(group.tags());

    let mut networks: Vec<&str> = Vec::new();
    let mut ports: Vec<i32> = Vec::new();
    for rule in rules.iter().filter(|rule| rule.protocol == "tcp" && rule.from_port == rule.to_port) {
        if let (Source::Ipv4(cidr) | Source::Ipv6(cidr), Some(port)) = (&rule.source, rule.from_port) {
            networks.push(cidr);
            ports.push(port);
        }
    }
    networks.sort_unstable();
    networks.dedup();
    ports.sort_unstable();
    ports.dedup();

    let mut attrs = tenant_attrs_from_tags(&real_tags, region);
    attrs.insert("allowed_networks", Value::List(networks.into_iter().map(Value::from).collect()));
    attrs.insert("ingress_ports", Value::List(ports.into_iter().map(|port| Value::from(i64::from(port))).collect()));
    attrs.extend(computed(&group, &rules, &real_tags));
    Ok(attrs)
}

/// Describes groups by id with the `group-id` filter, which skips missing
/// ids where the `GroupIds` parameter would fail the whole call.
async fn describe(client: &aws_sdk_ec2::Client, region: &str, ids: &[String]) -> Result<HashMap<String, SecurityGroup>, Error> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(FILTER_VALUES) {
        let filter = Filter::builder().name("group-id").set_values(Some(chunk.to_vec())).build();
        let mut pages = client.describe_security_groups().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api(format!("describe {} security groups in {region}", chunk.len())))?;
            for group in page.security_groups() {
                if let Some(id) = group.group_id() {
                    found.insert(id.to_owned(), group.clone());
                }
            }
        }
    }
    Ok(found)
}

fn group_id(attrs: &Attrs) -> Result<String, Error> {
    ["group_id", "id"]
        .iter()
        .find_map(|name| attrs.get(*name).and_then(Value::as_str).filter(|id| !id.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid("the state of this security group has no `group_id`; import it again by its id".into()))
}
