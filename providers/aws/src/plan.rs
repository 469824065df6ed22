//! Planning: checks configured values before anything reaches EC2, and
//! computes the values that are known at plan time. These are the default
//! region, the default ports, the tags, the ingress rules and the group name,
//! so a plan shows what apply will do and a refresh after apply matches it.

use tenancy_sdk::{Attrs, PlannedChange, ResourceSchema, Value, plan_by_schema};

use crate::attrs::Tenant;
use crate::error::Error;
use crate::schema::{DEFAULT_INGRESS_PORTS, SECURITY_GROUP_TYPE, SUBNETS_TYPE, VPC_TYPE};
use crate::security_group::{check_networks, rules_value};
use crate::subnets::check_cidrs;
use crate::vpc::VpcSpec;
use crate::{attrs, rules, tags};

/// Plans a change to one resource of the given schema.
pub fn plan(schema: &ResourceSchema, prior: Option<&Attrs>, config: &Attrs, default_region: &str) -> Result<PlannedChange, Error> {
    let mut config = config.clone();
    if config.get("region").is_none_or(Value::is_null) {
        config.insert("region", default_region.into());
    }
    if schema.type_name == SECURITY_GROUP_TYPE && config.get("ingress_ports").is_none_or(Value::is_null) {
        let ports = DEFAULT_INGRESS_PORTS.iter().map(|port| Value::from(i64::from(*port)));
        config.insert("ingress_ports", Value::List(ports.collect()));
    }
    let derived = derive(schema.type_name, &config, default_region)?;
    config.extend(derived.clone());

    // An object imported without a `tenancy:tenant` tag has no tenant id;
    // adopting it writes the tags in place instead of replacing it.
    let adopted = prior.filter(|prior| prior.get("tenant_id").is_none_or(Value::is_null)).map(|prior| {
        let mut prior = prior.clone();
        prior.insert("tenant_id", config.get("tenant_id").cloned().unwrap_or_default());
        prior
    });
    let prior = adopted.as_ref().or(prior);

    let mut change = plan_by_schema(schema, prior, &config);
    let vpc_id_unknown = change.planned.get("vpc_id").is_some_and(Value::is_unknown) && schema.type_name != VPC_TYPE;
    if prior.is_some() && vpc_id_unknown && !change.requires_replace.iter().any(|name| name == "vpc_id") {
        // The VPC itself is being replaced, so these objects move to a new one.
        change.requires_replace.push("vpc_id".into());
        for attribute in schema.attributes.iter().filter(|attribute| attribute.is_computed_only()) {
            change.planned.insert(attribute.name.to_owned(), Value::Unknown);
        }
    }
    // A replacement marks every computed value unknown, but these follow from
    // the configuration alone.
    change.planned.extend(derived);
    Ok(change)
}

/// Checks the known configured values and returns the computed attributes
/// that follow from them: `tags` and, for a security group,
/// `ingress_rules` and `name`. A value that depends on an unknown one is
/// unknown.
fn derive(type_name: &str, config: &Attrs, default_region: &str) -> Result<Attrs, Error> {
    let known = |names: &[&str]| names.iter().all(|name| !config.get(*name).is_some_and(Value::contains_unknown));
    let mut derived = Attrs::new();

    let tenant_fields = ["tenant_id", "region", "tier", "security_policy"];
    let tenant = if known(&tenant_fields) {
        Some(Tenant::from_attrs(config, default_region)?)
    } else {
        None
    };
    let tags = tenant.as_ref().map_or(Value::Unknown, |tenant| tags::to_value(&tags::planned(tenant)));
    derived.insert("tags", tags);

    match type_name {
        VPC_TYPE if known(&["cidr"]) => {
            if known(&tenant_fields) {
                VpcSpec::from_attrs(config, default_region)?;
            }
        }
        SUBNETS_TYPE if known(&["cidrs"]) => {
            check_cidrs(&attrs::string_list(config, "cidrs")?)?;
        }
        SECURITY_GROUP_TYPE => {
            let rules = if known(&["allowed_networks", "ingress_ports"]) {
                let networks = check_networks(&attrs::string_list(config, "allowed_networks")?)?;
                let ports = attrs::ports(config, "ingress_ports")?.unwrap_or_default();
                rules_value(&rules::desired(&networks, &ports))
            } else {
                Value::Unknown
            };
            derived.insert("ingress_rules", rules);
            let name = tenant.as_ref().map_or(Value::Unknown, |tenant| Value::string(tenant.name()));
            derived.insert("name", name);
        }
        _ => {}
    }
    Ok(derived)
}

/// Returns an error when a configured value is still unknown at apply.
pub fn check_known(schema: &ResourceSchema, planned: &Attrs) -> Result<(), Error> {
    let configured = schema.attributes.iter().filter(|attribute| !attribute.is_computed_only());
    for attribute in configured {
        if planned.get(attribute.name).is_some_and(Value::contains_unknown) {
            return Err(Error::Invalid(format!(
                "`{}` of this {} is still unknown when it is applied; the resource it comes from must be applied first",
                attribute.name, schema.type_name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{security_group_schema, subnets_schema, vpc_schema};
    use crate::security_group::SecurityGroupSpec;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|item| Value::from(*item)).collect())
    }

    #[test]
    fn vpc_create_plans_tags_and_default_region() {
        let config = attrs(&[("tenant_id", "acme".into()), ("cidr", "10.1.0.0/16".into()), ("tier", "pro".into())]);

        let change = plan(&vpc_schema(), None, &config, "eu-west-1").unwrap();

        assert_eq!(change.planned["region"], Value::from("eu-west-1"));
        assert_eq!(change.planned["id"], Value::Unknown);
        let tags = change.planned["tags"].as_map().unwrap();
        assert_eq!(tags["tenancy:tier"], Value::from("pro"));
        assert_eq!(tags["Name"], Value::from("tenancy-acme"));
    }

    #[test]
    fn vpc_cidr_with_host_bits_is_rejected() {
        let config = attrs(&[("tenant_id", "acme".into()), ("cidr", "10.1.2.0/16".into())]);

        let error = plan(&vpc_schema(), None, &config, "us-east-1").unwrap_err();

        assert!(error.to_string().contains("10.1.0.0/16"), "{error}");
    }

    #[test]
    fn unknown_vpc_id_on_update_forces_replace() {
        let prior = attrs(&[
            ("tenant_id", "acme".into()),
            ("vpc_id", "vpc-1".into()),
            ("cidrs", strings(&["10.1.0.0/17"])),
            ("id", "subnet-1".into()),
        ]);
        let config = attrs(&[("tenant_id", "acme".into()), ("vpc_id", Value::Unknown), ("cidrs", strings(&["10.1.0.0/17"]))]);

        let change = plan(&subnets_schema(), Some(&prior), &config, "us-east-1").unwrap();

        assert_eq!(change.requires_replace, vec!["vpc_id".to_owned()]);
        assert_eq!(change.planned["id"], Value::Unknown);
        assert!(!change.planned["tags"].is_unknown());
    }

    #[test]
    fn group_plans_rules_from_networks_and_default_port() {
        let config = attrs(&[
            ("tenant_id", "acme".into()),
            ("vpc_id", Value::Unknown),
            ("allowed_networks", strings(&["10.0.0.0/8"])),
        ]);

        let change = plan(&security_group_schema(), None, &config, "us-east-1").unwrap();

        assert_eq!(change.planned["ingress_ports"], Value::list(vec![Value::from(443i64)]));
        assert_eq!(change.planned["ingress_rules"], strings(&["tcp 443 from 10.0.0.0/8"]));
        assert_eq!(change.planned["name"], Value::from("tenancy-acme"));
    }

    #[test]
    fn group_without_networks_plans_no_rules() {
        let config = attrs(&[("tenant_id", "acme".into()), ("vpc_id", "vpc-1".into()), ("allowed_networks", Value::Null)]);

        let change = plan(&security_group_schema(), None, &config, "us-east-1").unwrap();

        assert_eq!(change.planned["ingress_rules"], Value::List(tenancy_sdk::ThinVec::new()));
        let spec = SecurityGroupSpec::from_attrs(&change.planned, "us-east-1").unwrap();
        assert!(spec.rules().is_empty());
    }

    #[test]
    fn import_without_tenant_tag_updates_in_place() {
        let prior = attrs(&[("tenant_id", Value::Null), ("cidr", "10.1.0.0/16".into()), ("vpc_id", "vpc-1".into())]);
        let config = attrs(&[("tenant_id", "acme".into()), ("cidr", "10.1.0.0/16".into())]);

        let change = plan(&vpc_schema(), Some(&prior), &config, "us-east-1").unwrap();

        assert!(change.requires_replace.is_empty(), "{:?}", change.requires_replace);
        assert_eq!(change.planned["vpc_id"], Value::from("vpc-1"));
    }

    #[test]
    fn unknown_vpc_id_is_rejected_at_apply() {
        let planned = attrs(&[("vpc_id", Value::Unknown), ("id", Value::Unknown)]);

        let error = check_known(&subnets_schema(), &planned).unwrap_err();

        assert!(error.to_string().contains("`vpc_id`"), "{error}");
    }
}
