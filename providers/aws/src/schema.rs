//! The schemas of the three resource types: `aws_vpc`, `aws_subnets` and
//! `aws_security_group`.

use tenancy_sdk::{AttrType, AttributeSchema, ResourceSchema};

/// The VPC resource type.
pub const VPC_TYPE: &str = "aws_vpc";

/// The subnets resource type.
pub const SUBNETS_TYPE: &str = "aws_subnets";

/// The security group resource type.
pub const SECURITY_GROUP_TYPE: &str = "aws_security_group";

/// Every resource type of the provider.
pub const TYPES: [&str; 3] = [VPC_TYPE, SUBNETS_TYPE, SECURITY_GROUP_TYPE];

/// The TCP ports a security group opens when `ingress_ports` is not set.
pub const DEFAULT_INGRESS_PORTS: [u16; 1] = [443];

/// Returns the schema of a resource type of this provider.
pub fn schema(type_name: &str) -> Option<ResourceSchema> {
    match type_name {
        VPC_TYPE => Some(vpc_schema()),
        SUBNETS_TYPE => Some(subnets_schema()),
        SECURITY_GROUP_TYPE => Some(security_group_schema()),
        _ => None,
    }
}

/// Returns the attributes every type shares, in schema order.
fn tenant_attributes() -> [AttributeSchema; 4] {
    [
        AttributeSchema::required("tenant_id", AttrType::String, "The tenant id, written into the `Name` and `tenancy:tenant` tags.")
            .force_new(),
        AttributeSchema::optional("region", AttrType::String, "The AWS region; defaults to the provider's `region`.").force_new(),
        AttributeSchema::optional("tier", AttrType::String, "The tenant's tier, written into the `tenancy:tier` tag."),
        AttributeSchema::optional(
            "security_policy",
            AttrType::String,
            "The tenant's security policy, written into the `tenancy:policy` tag.",
        ),
    ]
}

fn tags_attribute() -> AttributeSchema {
    AttributeSchema::computed("tags", AttrType::StringMap, "The tags on the object, without the `aws:` keys.")
}

/// Returns the schema of `aws_vpc`.
pub fn vpc_schema() -> ResourceSchema {
    let mut attributes = tenant_attributes().to_vec();
    attributes.extend([
        AttributeSchema::required("cidr", AttrType::String, "The VPC's IPv4 CIDR block, such as 10.1.0.0/16.").force_new(),
        tags_attribute(),
        AttributeSchema::computed("id", AttrType::String, "The VPC id, which identifies the resource."),
        AttributeSchema::computed("vpc_id", AttrType::String, "The VPC id, such as vpc-0a1b2c3d."),
    ]);
    ResourceSchema {
        type_name: VPC_TYPE,
        description: "A tenant's VPC.",
        attributes,
    }
}

/// Returns the schema of `aws_subnets`.
pub fn subnets_schema() -> ResourceSchema {
    let mut attributes = tenant_attributes().to_vec();
    attributes.extend([
        AttributeSchema::required("vpc_id", AttrType::String, "The id of the VPC the subnets belong to.").force_new(),
        AttributeSchema::required("cidrs", AttrType::StringList, "One IPv4 CIDR block per subnet, inside the VPC's block.")
            .force_new(),
        tags_attribute(),
        AttributeSchema::computed("id", AttrType::String, "The subnet ids joined by commas, which identify the resource."),
        AttributeSchema::computed("subnet_ids", AttrType::StringList, "The subnet ids, in the order of `cidrs`."),
        AttributeSchema::computed(
            "availability_zones",
            AttrType::StringList,
            "The availability zone of each subnet, in the order of `cidrs`.",
        ),
    ]);
    ResourceSchema {
        type_name: SUBNETS_TYPE,
        description: "A tenant's subnets, spread over the availability zones of the region.",
        attributes,
    }
}

/// Returns the schema of `aws_security_group`.
pub fn security_group_schema() -> ResourceSchema {
    let mut attributes = tenant_attributes().to_vec();
    attributes.extend([
        AttributeSchema::required("vpc_id", AttrType::String, "The id of the VPC the group belongs to.").force_new(),
        AttributeSchema::optional(
            "allowed_networks",
            AttrType::StringList,
            "The CIDR blocks allowed in; without any, the group allows no ingress.",
        ),
        AttributeSchema::optional("ingress_ports", AttrType::Any, "The TCP ports each allowed network may reach; defaults to [443]."),
        tags_attribute(),
        AttributeSchema::computed(
            "ingress_rules",
            AttrType::StringList,
            "The group's ingress rules, such as \"tcp 443 from 10.0.0.0/8\", sorted.",
        ),
        AttributeSchema::computed("id", AttrType::String, "The group id, which identifies the resource."),
        AttributeSchema::computed("group_id", AttrType::String, "The group id, such as sg-0a1b2c3d."),
        AttributeSchema::computed("name", AttrType::String, "The group name, tenancy-<tenant_id>."),
    ]);
    ResourceSchema {
        type_name: SECURITY_GROUP_TYPE,
        description: "A tenant's security group: ingress only from the allowed networks, on the listed TCP ports.",
        attributes,
    }
}
