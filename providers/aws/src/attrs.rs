//! Reading and checking resource attributes: typed getters that name the
//! attribute in their errors, and the checks for regions, CIDR blocks and
//! ports that plan runs before anything reaches EC2.

use ipnet::IpNet;
use tenancy_sdk::{Attrs, Value};

use crate::error::Error;

/// The maximum tenant id length: tag values are at most 256 characters, and
/// the `Name` tag and the group name add the `tenancy-` prefix.
const MAX_TENANT_ID_LENGTH: usize = 200;

/// Reads an optional string attribute.
pub fn string(attrs: &Attrs, name: &str) -> Result<Option<String>, Error> {
    match attrs.get(name).map(Value::unmarked) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.to_string())),
        Some(Value::Unknown) => Err(unknown(name)),
        Some(other) => Err(Error::Invalid(format!("`{name}` must be a string, found {}", other.type_name()))),
    }
}

/// Reads a string attribute that must be set.
pub fn required_string(attrs: &Attrs, name: &str) -> Result<String, Error> {
    string(attrs, name)?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| Error::Invalid(format!("`{name}` is required")))
}

/// Reads an optional list of strings; null reads as an empty list.
pub fn string_list(attrs: &Attrs, name: &str) -> Result<Vec<String>, Error> {
    let items = match attrs.get(name).map(Value::unmarked) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::List(items)) => items,
        Some(Value::Unknown) => return Err(unknown(name)),
        Some(other) => return Err(Error::Invalid(format!("`{name}` must be a list of strings, found {}", other.type_name()))),
    };
    items
        .iter()
        .map(|item| match item.unmarked() {
            Value::String(text) => Ok(text.to_string()),
            Value::Unknown => Err(unknown(name)),
            other => Err(Error::Invalid(format!("`{name}` must be a list of strings, found an item of type {}", other.type_name()))),
        })
        .collect()
}

/// Reads an optional list of TCP ports; null reads as `None`.
pub fn ports(attrs: &Attrs, name: &str) -> Result<Option<Vec<u16>>, Error> {
    let items = match attrs.get(name).map(Value::unmarked) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::List(items)) => items,
        Some(Value::Unknown) => return Err(unknown(name)),
        Some(other) => return Err(Error::Invalid(format!("`{name}` must be a list of port numbers, found {}", other.type_name()))),
    };
    let mut ports = Vec::with_capacity(items.len());
    for item in items {
        let port = item
            .as_i64()
            .filter(|port| (1..=65535).contains(port))
            .ok_or_else(|| Error::Invalid(format!("`{name}` contains {item}, which is not a port number from 1 to 65535")))?;
        ports.push(port as u16);
    }
    ports.sort_unstable();
    ports.dedup();
    Ok(Some(ports))
}

fn unknown(name: &str) -> Error {
    Error::Invalid(format!("`{name}` is not known yet; it must be known when the change is applied"))
}

/// Checks the shape of an AWS region name such as `eu-central-1`.
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts.iter().all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit()))
        && parts.last().is_some_and(|part| part.bytes().all(|byte| byte.is_ascii_digit()));
    if well_formed {
        Ok(())
    } else {
        Err(format!("{region:?} is not an AWS region name; use a name such as us-east-1 or eu-central-1"))
    }
}

/// Parses a CIDR block and checks that it names a network, not a host in it.
pub fn network(text: &str, name: &str) -> Result<IpNet, Error> {
    let network: IpNet = text
        .parse()
        .map_err(|_| Error::Invalid(format!("`{name}` contains {text:?}, which is not a CIDR block such as 10.1.0.0/16")))?;
    if network.addr() != network.network() {
        return Err(Error::Invalid(format!(
            "`{name}` contains {text:?}, which has host bits set; use {}",
            network.trunc()
        )));
    }
    Ok(network)
}

/// The attributes every resource of this provider shares: whose it is,
/// where it lives and what it is tagged with.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// The tenant id.
    pub tenant_id: String,
    /// The AWS region of the resource.
    pub region: String,
    /// The tenant's tier name.
    pub tier: Option<String>,
    /// The tenant's security policy name.
    pub security_policy: Option<String>,
}

impl Tenant {
    /// Reads the shared attributes; a missing region reads as the default.
    pub fn from_attrs(attrs: &Attrs, default_region: &str) -> Result<Tenant, Error> {
        let tenant_id = required_string(attrs, "tenant_id")?;
        check_tenant_id(&tenant_id)?;
        let region = string(attrs, "region")?.unwrap_or_else(|| default_region.to_owned());
        check_region(&region).map_err(|message| Error::Invalid(format!("`region` {message}")))?;
        Ok(Tenant {
            tenant_id,
            region,
            tier: string(attrs, "tier")?,
            security_policy: string(attrs, "security_policy")?,
        })
    }

    /// Returns the `Name` tag and the group name of the tenant's objects.
    pub fn name(&self) -> String {
        format!("tenancy-{}", self.tenant_id)
    }
}

fn check_tenant_id(tenant_id: &str) -> Result<(), Error> {
    if tenant_id.chars().count() > MAX_TENANT_ID_LENGTH {
        return Err(Error::Invalid(format!(
            "`tenant_id` is {} characters long; AWS tags allow at most {MAX_TENANT_ID_LENGTH}",
            tenant_id.chars().count()
        )));
    }
    if tenant_id.chars().any(char::is_control) {
        return Err(Error::Invalid(format!("`tenant_id` {tenant_id:?} contains a control character")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    #[test]
    fn region_names_are_checked() {
        for region in ["us-east-1", "eu-central-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(check_region(region).is_ok(), "{region}");
        }
        for region in ["", "eu", "us-east", "US-EAST-1", "us east 1", "us--1"] {
            assert!(check_region(region).is_err(), "{region}");
        }
    }

    #[test]
    fn network_with_host_bits_names_the_fix() {
        let error = network("10.1.2.3/16", "cidr").unwrap_err();

        assert!(error.to_string().contains("use 10.1.0.0/16"), "{error}");
    }

    #[test]
    fn network_accepts_ipv6() {
        assert!(network("2001:db8::/32", "allowed_networks").is_ok());
    }

    #[test]
    fn ports_are_sorted_and_checked() {
        let config = attrs(&[("ports", Value::list(vec![5432i64.into(), 443i64.into(), 443i64.into()]))]);

        assert_eq!(ports(&config, "ports").unwrap(), Some(vec![443, 5432]));

        let config = attrs(&[("ports", Value::list(vec![70000i64.into()]))]);
        let error = ports(&config, "ports").unwrap_err();
        assert!(error.to_string().contains("70000"), "{error}");
    }

    #[test]
    fn tenant_reads_default_region() {
        let tenant = Tenant::from_attrs(&attrs(&[("tenant_id", "acme".into())]), "eu-west-1").unwrap();

        assert_eq!(tenant.region, "eu-west-1");
        assert_eq!(tenant.name(), "tenancy-acme");
        assert_eq!(tenant.tier, None);
    }

    #[test]
    fn wrong_type_names_attribute() {
        let error = string_list(&attrs(&[("cidrs", "10.0.0.0/24".into())]), "cidrs").unwrap_err();

        assert!(error.to_string().contains("`cidrs` must be a list of strings"), "{error}");
    }
}
