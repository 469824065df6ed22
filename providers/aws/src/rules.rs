//! Security group ingress rules as single permissions.
//!
//! EC2 groups a group's rules by protocol and port range, each with many
//! sources. [`Rule`] is one protocol, one port range and one source. So two
//! sets of rules compare by plain equality, and apply authorizes or revokes
//! exactly the difference. Each rule renders as one line of the
//! `ingress_rules` attribute, such as `tcp 443 from 10.0.0.0/8`.

use std::fmt;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use ipnet::IpNet;

/// The origin of the traffic a rule allows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// An IPv4 CIDR block.
    Ipv4(String),
    /// An IPv6 CIDR block.
    Ipv6(String),
    /// Another security group, by id.
    Group(String),
    /// A managed prefix list, by id.
    PrefixList(String),
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Ipv4(text) | Source::Ipv6(text) | Source::Group(text) | Source::PrefixList(text) => {
                formatter.write_str(text)
            }
        }
    }
}

/// One ingress permission: a protocol, a port range and a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// The protocol name: `tcp`, `udp`, `icmp`, `icmpv6`, `all`, or the IP
    /// protocol number for others.
    pub protocol: String,
    /// The first port, or the ICMP type.
    pub from_port: Option<i32>,
    /// The last port, or the ICMP code.
    pub to_port: Option<i32>,
    /// The origin of the traffic.
    pub source: Source,
}

impl Rule {
    /// Returns a rule that allows one TCP port from a network.
    pub fn tcp(port: u16, network: &IpNet) -> Rule {
        let source = match network {
            IpNet::V4(_) => Source::Ipv4(network.to_string()),
            IpNet::V6(_) => Source::Ipv6(network.to_string()),
        };
        Rule {
            protocol: "tcp".into(),
            from_port: Some(i32::from(port)),
            to_port: Some(i32::from(port)),
            source,
        }
    }

    /// Returns the permission that authorizes or revokes this rule alone.
    pub fn to_permission(&self) -> IpPermission {
        let protocol = match self.protocol.as_str() {
            "all" => "-1",
            "icmpv6" => "58",
            other => other,
        };
        let mut permission = IpPermission::builder().ip_protocol(protocol);
        if let Some(port) = self.from_port {
            permission = permission.from_port(port);
        }
        if let Some(port) = self.to_port {
            permission = permission.to_port(port);
        }
        permission = match &self.source {
            Source::Ipv4(cidr) => permission.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
            Source::Ipv6(cidr) => permission.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build()),
            Source::Group(id) => permission.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build()),
            Source::PrefixList(id) => permission.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).build()),
        };
        permission.build()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.protocol)?;
        let ports = match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("all", _, _) | (_, None, None) => None,
            ("icmp" | "icmpv6", Some(-1), _) => Some("all".to_owned()),
            ("icmp" | "icmpv6", Some(kind), Some(-1)) => Some(format!("type {kind}")),
            ("icmp" | "icmpv6", Some(kind), Some(code)) => Some(format!("type {kind} code {code}")),
            (_, Some(-1), Some(-1)) | (_, Some(0), Some(65535)) => Some("all".to_owned()),
            (_, Some(from), Some(to)) if from == to => Some(from.to_string()),
            (_, from, to) => Some(format!("{}-{}", port_text(from), port_text(to))),
        };
        if let Some(ports) = ports {
            write!(formatter, " {ports}")?;
        }
        write!(formatter, " from {}", self.source)
    }
}

fn port_text(port: Option<i32>) -> String {
    port.map_or_else(|| "?".to_owned(), |port| port.to_string())
}

/// Returns the protocol name EC2's protocol field stands for.
fn protocol_name(protocol: &str) -> String {
    match protocol.to_ascii_lowercase().as_str() {
        "-1" | "all" => "all".into(),
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        other => other.to_owned(),
    }
}

/// Splits EC2's grouped permissions into single rules, sorted.
pub fn from_permissions(permissions: &[IpPermission]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for permission in permissions {
        let protocol = protocol_name(permission.ip_protocol().unwrap_or("-1"));
        let rule = |source| Rule {
            protocol: protocol.clone(),
            from_port: permission.from_port(),
            to_port: permission.to_port(),
            source,
        };
        let ranges = permission.ip_ranges().iter().filter_map(IpRange::cidr_ip).map(|cidr| Source::Ipv4(cidr.to_owned()));
        let ipv6 = permission.ipv6_ranges().iter().filter_map(Ipv6Range::cidr_ipv6).map(|cidr| Source::Ipv6(cidr.to_owned()));
        let groups = permission.user_id_group_pairs().iter().filter_map(UserIdGroupPair::group_id).map(|id| Source::Group(id.to_owned()));
        let lists = permission.prefix_list_ids().iter().filter_map(PrefixListId::prefix_list_id).map(|id| Source::PrefixList(id.to_owned()));
        rules.extend(ranges.chain(ipv6).chain(groups).chain(lists).map(rule));
    }
    sorted(rules)
}

/// Returns the rules that open each port to each network, sorted.
pub fn desired(networks: &[IpNet], ports: &[u16]) -> Vec<Rule> {
    let rules = networks.iter().flat_map(|network| ports.iter().map(move |port| Rule::tcp(*port, network)));
    sorted(rules.collect())
}

/// Sorts rules by their rendering and drops duplicates.
fn sorted(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by_cached_key(Rule::to_string);
    rules.dedup();
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn desired_rules_cover_every_pair() {
        let rules = desired(&[network("10.0.0.0/8"), network("2001:db8::/32")], &[443, 5432]);

        let rendered: Vec<String> = rules.iter().map(Rule::to_string).collect();

        assert_eq!(
            rendered,
            [
                "tcp 443 from 10.0.0.0/8",
                "tcp 443 from 2001:db8::/32",
                "tcp 5432 from 10.0.0.0/8",
                "tcp 5432 from 2001:db8::/32",
            ]
        );
    }

    #[test]
    fn grouped_permission_splits_per_source() {
        let permission = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .ip_ranges(IpRange::builder().cidr_ip("192.168.0.0/16").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").build())
            .build();

        let rules = from_permissions(&[permission]);

        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0], Rule::tcp(443, &network("10.0.0.0/8")));
    }

    #[test]
    fn permission_round_trips() {
        let rule = Rule::tcp(5432, &network("2001:db8::/32"));

        assert_eq!(from_permissions(&[rule.to_permission()]), vec![rule]);
    }

    #[test]
    fn other_protocols_render_readably() {
        let all = Rule {
            protocol: protocol_name("-1"),
            from_port: None,
            to_port: None,
            source: Source::Ipv4("0.0.0.0/0".into()),
        };
        let range = Rule {
            protocol: protocol_name("17"),
            from_port: Some(1000),
            to_port: Some(2000),
            source: Source::Group("sg-1".into()),
        };

        assert_eq!(all.to_string(), "all from 0.0.0.0/0");
        assert_eq!(range.to_string(), "udp 1000-2000 from sg-1");
        assert_eq!(all.to_permission().ip_protocol(), Some("-1"));
    }
}
