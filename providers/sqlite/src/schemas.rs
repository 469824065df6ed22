//! The resource types of the SQLite provider and their attribute schemas.

use tenancy_sdk::{AttrType, AttributeSchema, ResourceSchema};

/// A resource type of the SQLite provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `catalog_tier`: a row of `tiers`.
    Tier,
    /// `catalog_security_policy`: a row of `security_policies`.
    SecurityPolicy,
    /// `catalog_tenant`: a row of `tenants` and its `tenant_databases`.
    Tenant,
    /// `catalog_subscription`: a row of `subscriptions`.
    Subscription,
    /// `catalog_monitoring`: a row of `monitoring`.
    Monitoring,
    /// `sqlite_database`: a tenant database file and its `database_files` row.
    Database,
}

impl ResourceType {
    /// Every resource type, in dependency order.
    pub const ALL: [ResourceType; 6] = [
        Self::Tier,
        Self::SecurityPolicy,
        Self::Tenant,
        Self::Subscription,
        Self::Monitoring,
        Self::Database,
    ];

    /// Returns the type with this name.
    pub fn parse(type_name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == type_name)
    }

    /// Returns the type name used in configuration and state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tier => "catalog_tier",
            Self::SecurityPolicy => "catalog_security_policy",
            Self::Tenant => "catalog_tenant",
            Self::Subscription => "catalog_subscription",
            Self::Monitoring => "catalog_monitoring",
            Self::Database => "sqlite_database",
        }
    }

    /// Returns the attribute whose value is the resource's `id`.
    pub fn key_attribute(self) -> &'static str {
        match self {
            Self::Tier | Self::SecurityPolicy => "name",
            _ => "tenant_id",
        }
    }

    /// Returns the attribute schema of this type.
    pub fn schema(self) -> ResourceSchema {
        match self {
            Self::Tier => tier_schema(),
            Self::SecurityPolicy => security_policy_schema(),
            Self::Tenant => tenant_schema(),
            Self::Subscription => subscription_schema(),
            Self::Monitoring => monitoring_schema(),
            Self::Database => database_schema(),
        }
    }
}

/// Returns the schemas of every resource type.
pub fn all_schemas() -> Vec<ResourceSchema> {
    ResourceType::ALL
        .into_iter()
        .map(ResourceType::schema)
        .collect()
}

/// Marks an optional attribute as also set by the provider when
/// configuration leaves it out.
const fn defaulted(attribute: AttributeSchema) -> AttributeSchema {
    AttributeSchema {
        computed: true,
        ..attribute
    }
}

fn id(description: &'static str) -> AttributeSchema {
    AttributeSchema::computed("id", AttrType::String, description)
}

fn tier_schema() -> ResourceSchema {
    use AttributeSchema as A;
    ResourceSchema {
        type_name: "catalog_tier",
        description: "A billing tier in the tenant catalog's `tiers` table.",
        attributes: vec![
            id("The tier name."),
            A::required(
                "name",
                AttrType::String,
                "The tier name, unique in the catalog.",
            )
            .force_new(),
            A::optional(
                "price",
                AttrType::Number,
                "The recurring price per billing cycle.",
            ),
            A::optional(
                "currency",
                AttrType::String,
                "The ISO 4217 currency code of the prices.",
            ),
            A::optional(
                "billing_cycle",
                AttrType::String,
                "How often the price is charged, such as `monthly`.",
            ),
            A::optional(
                "trial_days",
                AttrType::Number,
                "Days of free trial for new subscriptions.",
            ),
            A::optional(
                "limits",
                AttrType::Any,
                "Resource limits by name, as numbers.",
            ),
            A::optional(
                "features",
                AttrType::StringList,
                "Feature flags that the tier includes.",
            ),
            A::optional(
                "usage_prices",
                AttrType::Any,
                "Prices per unit of metered usage, by meter name.",
            ),
            A::optional("description", AttrType::String, "A description for people."),
        ],
    }
}

fn security_policy_schema() -> ResourceSchema {
    use AttributeSchema as A;
    ResourceSchema {
        type_name: "catalog_security_policy",
        description: "A security policy in the tenant catalog's `security_policies` table.",
        attributes: vec![
            id("The policy name."),
            A::required(
                "name",
                AttrType::String,
                "The policy name, unique in the catalog.",
            )
            .force_new(),
            A::optional(
                "encryption_at_rest",
                AttrType::Bool,
                "Whether tenant data must be encrypted at rest.",
            ),
            A::optional(
                "audit_logging",
                AttrType::Bool,
                "Whether changes to tenant data are audited.",
            ),
            A::optional(
                "mfa_required",
                AttrType::Bool,
                "Whether users must sign in with a second factor.",
            ),
            A::optional(
                "tls_min_version",
                AttrType::String,
                "The lowest TLS version accepted, such as `1.2`.",
            ),
            A::optional(
                "allowed_networks",
                AttrType::StringList,
                "CIDR blocks that may connect.",
            ),
            A::optional(
                "data_residency",
                AttrType::StringList,
                "Jurisdictions where data may be stored.",
            ),
            A::optional(
                "compliance",
                AttrType::StringList,
                "Compliance frameworks that apply.",
            ),
            A::optional(
                "password_rotation_days",
                AttrType::Number,
                "Days after which passwords expire.",
            ),
            A::optional(
                "statement_timeout_seconds",
                AttrType::Number,
                "The longest a query may run.",
            ),
            A::optional(
                "idle_timeout_seconds",
                AttrType::Number,
                "The longest a session may stay idle.",
            ),
            A::optional(
                "retention_days",
                AttrType::Number,
                "Days that deleted data and logs are kept.",
            ),
        ],
    }
}

fn tenant_schema() -> ResourceSchema {
    use AttributeSchema as A;
    ResourceSchema {
        type_name: "catalog_tenant",
        description: "A tenant in the tenant catalog's `tenants` table.",
        attributes: vec![
            id("The tenant id."),
            A::required(
                "tenant_id",
                AttrType::String,
                "The tenant id: letters, digits, `_` and `-`.",
            )
            .force_new(),
            A::optional(
                "display_name",
                AttrType::String,
                "The tenant's name for people.",
            ),
            A::optional(
                "tier",
                AttrType::String,
                "The name of the tier the tenant is on.",
            ),
            A::optional(
                "security_policy",
                AttrType::String,
                "The name of the tenant's security policy.",
            ),
            // The catalog row is the tenant's identity, which a region move
            // keeps: replacing the row would have to delete it while the
            // subscription, monitoring and database rows still refer to it.
            A::optional(
                "region",
                AttrType::String,
                "The region that hosts the tenant; a change updates the row in place.",
            ),
            A::optional("labels", AttrType::StringMap, "Free-form labels."),
            defaulted(A::optional(
                "status",
                AttrType::String,
                "`active` (the default) or `suspended`.",
            )),
            A::optional(
                "contact_email",
                AttrType::String,
                "Where to reach the tenant's administrator.",
            ),
            defaulted(A::optional(
                "databases",
                AttrType::StringList,
                "The database engines that hold the tenant's data; empty by default.",
            )),
            A::computed(
                "created_at",
                AttrType::String,
                "When the tenant was created, in RFC 3339.",
            ),
        ],
    }
}

fn subscription_schema() -> ResourceSchema {
    use AttributeSchema as A;
    ResourceSchema {
        type_name: "catalog_subscription",
        description: "A tenant's subscription in the tenant catalog's `subscriptions` table.",
        attributes: vec![
            id("The tenant id."),
            A::required(
                "tenant_id",
                AttrType::String,
                "The subscribing tenant's id.",
            )
            .force_new(),
            A::optional("tier", AttrType::String, "The name of the subscribed tier."),
            A::optional(
                "price",
                AttrType::Number,
                "The recurring price per billing cycle.",
            ),
            A::optional(
                "currency",
                AttrType::String,
                "The ISO 4217 currency code of the price.",
            ),
            A::optional(
                "billing_cycle",
                AttrType::String,
                "How often the price is charged.",
            ),
            A::optional(
                "trial_days",
                AttrType::Number,
                "Days of free trial from `started_at`.",
            ),
            A::computed(
                "started_at",
                AttrType::String,
                "When the subscription started, in RFC 3339.",
            ),
            A::computed(
                "trial_ends_at",
                AttrType::String,
                "When the trial ends: `started_at` plus `trial_days`.",
            ),
            A::computed(
                "status",
                AttrType::String,
                "`trialing` before `trial_ends_at`, `active` after.",
            ),
        ],
    }
}

fn monitoring_schema() -> ResourceSchema {
    use AttributeSchema as A;
    ResourceSchema {
        type_name: "catalog_monitoring",
        description: "A tenant's monitoring settings in the tenant catalog's `monitoring` table.",
        attributes: vec![
            id("The tenant id."),
            A::required("tenant_id", AttrType::String, "The monitored tenant's id.").force_new(),
            defaulted(A::optional(
                "enabled",
                AttrType::Bool,
                "Whether metrics and alerts are on; `true` by default.",
            )),
            A::optional("alert_email", AttrType::String, "Where alerts are sent."),
            A::optional(
                "metrics_retention_days",
                AttrType::Number,
                "Days that metrics are kept.",
            ),
        ],
    }
}

fn database_schema() -> ResourceSchema {
    use AttributeSchema as A;
    ResourceSchema {
        type_name: "sqlite_database",
        description: "A tenant's SQLite database file, recorded in the catalog's `database_files` table.",
        attributes: vec![
            id("The tenant id."),
            A::required(
                "tenant_id",
                AttrType::String,
                "The owning tenant's id; names the file.",
            )
            .force_new(),
            defaulted(A::optional(
                "journal_mode",
                AttrType::String,
                "`wal` (the default) or `delete`.",
            )),
            A::optional(
                "max_size_mb",
                AttrType::Number,
                "The size limit in MiB that applications must enforce.",
            ),
            defaulted(A::optional(
                "secure_delete",
                AttrType::Bool,
                "Whether deleted content is overwritten; `false` by default.",
            )),
            defaulted(A::optional(
                "audit_logging",
                AttrType::Bool,
                "Whether triggers log every row change; `false` by default.",
            )),
            defaulted(A::optional(
                "encryption_at_rest",
                AttrType::Bool,
                "Recorded only, because SQLite does not encrypt files.",
            )),
            A::optional(
                "tls_min_version",
                AttrType::String,
                "Recorded only, because a local file has no TLS.",
            ),
            A::computed(
                "path",
                AttrType::String,
                "The absolute path of the database file.",
            ),
            A::computed("url", AttrType::String, "`sqlite://` followed by the path."),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_from_its_name() {
        for kind in ResourceType::ALL {
            assert_eq!(ResourceType::parse(kind.name()), Some(kind));
            assert_eq!(kind.schema().type_name, kind.name());
        }
    }

    #[test]
    fn every_schema_has_id_and_key() {
        for kind in ResourceType::ALL {
            let schema = kind.schema();
            assert!(
                schema.attribute("id").is_some_and(|id| id.computed),
                "{}",
                kind.name()
            );
            assert!(
                schema
                    .attribute(kind.key_attribute())
                    .is_some_and(|key| key.required && key.force_new)
            );
        }
    }
}
