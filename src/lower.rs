//! Lowering: turns the evaluated configuration into concrete resources.
//!
//! Each tier and security policy becomes a catalog resource, and each tenant
//! becomes a catalog entry, a subscription and one resource per nested block,
//! with stable addresses (`tenant.acme`, `tenant.acme.database.sqlite`,
//! `tenant.studios["berlin"]`). A tenant's tier and policy reach its
//! resources as plain attributes, so a plan shows what a tier change does to
//! every tenant.

use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use tenancy_sdk::{ArcStr, Attrs, Name, ThinVec, Value};

use crate::config::{Component, ComponentKind, Config, ResourceBlock, SecurityPolicy, Tenant, Tier};
use crate::lang::source::Span;
use crate::lang::{Diagnostic, Diagnostics};
use crate::plan::model::AttrRef;
use crate::registry;

/// One resource the configuration asks for.
#[derive(Debug, Clone)]
pub struct DesiredResource {
    /// The resource address.
    pub address: ArcStr,
    /// The resource type, such as `catalog_tenant`.
    pub type_name: Name,
    /// The provider instance, such as `sqlite` or `postgres.eu`.
    pub provider: Name,
    /// The configured attributes.
    pub config: DesiredConfig,
    /// Addresses this resource depends on.
    pub depends_on: Vec<ArcStr>,
    /// The configuration that produced the resource.
    pub span: Span,
    /// Attributes whose value comes from another resource.
    pub refs: ThinVec<AttrRef>,
}

/// The configured attributes of a desired resource.
///
/// While a plan reads a large state, a configuration whose attributes are
/// each identical to the recorded ones is kept as a selection of the
/// recorded attributes, so the two sets do not take memory twice
/// ([`Desired::share_recorded`]).
#[derive(Debug, Clone, Default)]
pub struct DesiredConfig {
    /// The configuration, or the recorded attributes it selects from.
    attrs: Attrs,
    /// The bits of the positions in `attrs` that make up the configuration,
    /// or 0 when `attrs` is the configuration itself.
    selection: u64,
}

impl DesiredConfig {
    /// Returns the configured attributes.
    pub fn to_attrs(&self) -> Attrs {
        self.clone().into_attrs()
    }

    /// Returns the configured attributes, without a copy unless they are a
    /// selection of recorded ones.
    pub fn into_attrs(self) -> Attrs {
        match self.selection {
            0 => self.attrs,
            selection => self.attrs.select(selection),
        }
    }

    /// Returns true when the configuration is kept as a selection of
    /// recorded attributes.
    pub fn is_shared(&self) -> bool {
        self.selection != 0
    }
}

impl From<Attrs> for DesiredConfig {
    fn from(attrs: Attrs) -> DesiredConfig {
        DesiredConfig { attrs, selection: 0 }
    }
}

/// Every desired resource, with an index by address.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// Resources in a stable order: tiers, policies, tenants, resources.
    pub resources: Vec<DesiredResource>,
    /// Positions in `resources`, found by the hash of their address. The
    /// index keeps no copy of the addresses, so the resources must keep
    /// their addresses and order once added.
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Desired {
    /// Returns the position in `resources` of the resource at an address.
    pub fn position(&self, address: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(address);
        let resources = &self.resources;
        let found = self.index.find(hash, |&position| resources[position as usize].address == address);
        found.map(|&position| position as usize)
    }

    /// Returns the resource at an address.
    pub fn get(&self, address: &str) -> Option<&DesiredResource> {
        self.position(address).map(|position| &self.resources[position])
    }

    /// Returns the resources, in their order, and drops the index.
    pub fn into_resources(self) -> Vec<DesiredResource> {
        self.resources
    }

    /// Returns true when a resource has this address.
    pub fn contains(&self, address: &str) -> bool {
        self.position(address).is_some()
    }

    /// Keeps the configuration of the resource at `address` as a selection
    /// of `recorded`, when the configuration has attributes and `recorded`
    /// contains each of them with an identical value. The configuration's own
    /// set is then freed, and [`DesiredConfig::into_attrs`] builds it again
    /// when the diff needs it.
    pub fn share_recorded(&mut self, address: &str, recorded: &Attrs) {
        let Some(position) = self.position(address) else {
            return;
        };
        let config = &mut self.resources[position].config;
        if config.is_shared() || config.attrs.is_empty() {
            return;
        }
        if let Some(selection) = recorded.subset_mask(&config.attrs) {
            *config = DesiredConfig {
                attrs: recorded.clone(),
                selection,
            };
        }
    }

    /// Adds a resource at the end, or returns it when its address is taken.
    pub fn add(&mut self, resource: DesiredResource) -> Result<(), DesiredResource> {
        if self.contains(&resource.address) {
            return Err(resource);
        }
        let Ok(position) = u32::try_from(self.resources.len()) else {
            return Err(resource);
        };
        let hash = self.hasher.hash_one(resource.address.as_str());
        let (resources, hasher) = (&self.resources, &self.hasher);
        self.index.insert_unique(hash, position, |&other| {
            hasher.hash_one(resources[other as usize].address.as_str())
        });
        self.resources.push(resource);
        Ok(())
    }

    /// Indexes `resources`, in their order. A resource whose address is
    /// taken by an earlier one is reported and left out.
    fn from_resources(resources: Vec<DesiredResource>, diagnostics: &mut Diagnostics) -> Desired {
        let mut desired = Desired::default();
        if let Some(index) = desired.unique_index(&resources) {
            desired.resources = resources;
            desired.index = index;
            return desired;
        }

        // Only a repeated address gets here. Adding the resources one by
        // one reports each repeat.
        desired.reserve(resources.len());
        for resource in resources {
            desired.push(resource, diagnostics);
        }
        desired
    }

    /// Returns an index of `resources` by address with this set's hasher,
    /// or `None` when two of them share an address or there are too many to
    /// number with a `u32`.
    fn unique_index(&self, resources: &[DesiredResource]) -> Option<HashTable<u32>> {
        u32::try_from(resources.len()).ok()?;
        let hash_of = |resource: &DesiredResource| self.hasher.hash_one(resource.address.as_str());
        let mut index = HashTable::with_capacity(resources.len());
        for (position, resource) in resources.iter().enumerate() {
            let hash = hash_of(resource);
            if index.find(hash, |&other: &u32| resources[other as usize].address == resource.address).is_some() {
                return None;
            }
            index.insert_unique(hash, position as u32, |&other| hash_of(&resources[other as usize]));
        }
        Some(index)
    }

    /// Reserves room for `additional` more resources.
    fn reserve(&mut self, additional: usize) {
        self.resources.reserve_exact(additional);
        let (resources, hasher) = (&self.resources, &self.hasher);
        self.index.reserve(additional, |&position| {
            hasher.hash_one(resources[position as usize].address.as_str())
        });
    }

    fn push(&mut self, resource: DesiredResource, diagnostics: &mut Diagnostics) {
        if let Err(resource) = self.add(resource) {
            diagnostics.push(
                Diagnostic::error("tenancy::lower::duplicate_address", "Duplicate resource address")
                    .with_label(resource.span.clone(), format!("`{}` is declared again here", resource.address))
                    .with_help("Give each resource a unique name."),
            );
        }
    }
}

/// Lowers a configuration into desired resources.
///
/// Reports every problem together: an unknown provider instance, a database
/// engine with no provider in this build, a `depends_on` naming nothing.
pub fn lower(config: &Config) -> Result<Desired, Diagnostics> {
    lower_from(config, Tenants::Shared(&config.tenants))
}

/// Lowers a configuration as [`lower`] does, and takes its tenants: each
/// nested block's attributes move into its resource instead of being copied,
/// and `config.tenants` is left empty, so their memory is free once they are
/// lowered.
pub fn lower_taking_tenants(config: &mut Config) -> Result<Desired, Diagnostics> {
    let mut tenants = std::mem::take(&mut config.tenants);
    lower_from(config, Tenants::Taken(&mut tenants))
}

/// The tenants to lower: lent, so each block's attributes are shared and
/// copied on their first change, or given, so they move.
enum Tenants<'a> {
    Shared(&'a [Tenant]),
    Taken(&'a mut [Tenant]),
}

impl Tenants<'_> {
    fn as_slice(&self) -> &[Tenant] {
        match self {
            Tenants::Shared(tenants) => tenants,
            Tenants::Taken(tenants) => tenants,
        }
    }
}

fn lower_from(config: &Config, tenants: Tenants<'_>) -> Result<Desired, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let tiers: HashMap<&str, &Tier> = config.tiers.iter().map(|tier| (tier.name.as_str(), tier)).collect();
    let policies: HashMap<&str, &SecurityPolicy> = config
        .security_policies
        .iter()
        .map(|policy| (policy.name.as_str(), policy))
        .collect();

    let tenant_room: usize = tenants.as_slice().iter().map(tenant_room).sum();
    let mut resources = Vec::with_capacity(
        config.tiers.len() + config.security_policies.len() + tenant_room + config.resources.len(),
    );
    resources.extend(config.tiers.iter().map(lower_tier));
    resources.extend(config.security_policies.iter().map(lower_policy));
    diagnostics.extend(lower_tenants(config, tenants, &tiers, &policies, &mut resources));
    for block in &config.resources {
        if let Some(resource) = lower_resource_block(config, block, &mut diagnostics) {
            resources.push(resource);
        }
    }
    let desired = Desired::from_resources(resources, &mut diagnostics);

    check_dependencies(&desired, &mut diagnostics);
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        Ok(desired)
    }
}

/// Returns the maximum number of resources a tenant lowers to: a catalog
/// entry, a subscription, and for each nested block one resource, or three
/// for a VPC with its subnets and security group.
fn tenant_room(tenant: &Tenant) -> usize {
    let component_room = |component: &Component| match component.kind {
        ComponentKind::Network => 3,
        _ => 1,
    };
    2 + tenant.components.iter().map(component_room).sum::<usize>()
}

/// The number of tenants from which tenants are lowered on every core.
const PARALLEL_LOWER_MIN: usize = 512;

/// Lowers every tenant, on every core when there are many, appends their
/// resources to `resources` in configuration order and returns the
/// tenants' diagnostics. The cores write straight into `resources`, which
/// must have room for [`tenant_room`] resources per tenant.
///
/// Taken tenants lose their attributes and nested blocks as they are
/// lowered, so their memory is free before lowering ends.
fn lower_tenants(
    config: &Config,
    tenants: Tenants<'_>,
    tiers: &HashMap<&str, &Tier>,
    policies: &HashMap<&str, &SecurityPolicy>,
    resources: &mut Vec<DesiredResource>,
) -> Diagnostics {
    let lower_one = |tenant: &Tenant, blocks: Vec<Attrs>, diagnostics: &mut Diagnostics| {
        let Some(tier) = tiers.get(tenant.tier.as_str()) else {
            diagnostics.push(
                Diagnostic::error("tenancy::lower::unknown_tier", "Unknown tier")
                    .with_label(tenant.span.clone(), format!("tier `{}` is not declared", tenant.tier))
                    .with_help("Declare the tier with a `tier` block or use one that exists."),
            );
            return Vec::new();
        };
        let policy = tenant.security_policy.as_deref().and_then(|name| policies.get(name).copied());
        lower_tenant(config, tenant, blocks, tier, policy, diagnostics)
    };
    let lend = |tenant: &Tenant, diagnostics: &mut Diagnostics| {
        let blocks = tenant.components.iter().map(|component| component.attrs.clone()).collect();
        lower_one(tenant, blocks, diagnostics)
    };
    let take = |tenant: &mut Tenant, diagnostics: &mut Diagnostics| {
        let blocks = tenant.components.iter_mut().map(|component| std::mem::take(&mut component.attrs)).collect();
        let lowered = lower_one(tenant, blocks, diagnostics);
        tenant.attrs = Attrs::default();
        tenant.components = Vec::new();
        lowered
    };

    let mut diagnostics = Diagnostics::default();
    let threads = crate::parallel::threads();
    if threads < 2 || tenants.as_slice().len() < PARALLEL_LOWER_MIN {
        match tenants {
            Tenants::Shared(tenants) => {
                for tenant in tenants {
                    resources.extend(lend(tenant, &mut diagnostics));
                }
            }
            Tenants::Taken(tenants) => {
                for tenant in tenants {
                    resources.extend(take(tenant, &mut diagnostics));
                }
            }
        }
        return diagnostics;
    }

    let chunks = match tenants {
        Tenants::Shared(tenants) => {
            let mut lent: Vec<&Tenant> = tenants.iter().collect();
            let room = |tenant: &&Tenant| tenant_room(tenant);
            crate::parallel::fill_chunks(&mut lent, threads, resources, room, |chunk, slots| {
                let mut diagnostics = Diagnostics::default();
                for tenant in chunk.iter() {
                    lend(tenant, &mut diagnostics).into_iter().for_each(|resource| slots.push(resource));
                }
                diagnostics
            })
        }
        Tenants::Taken(tenants) => crate::parallel::fill_chunks(tenants, threads, resources, tenant_room, |chunk, slots| {
            let mut diagnostics = Diagnostics::default();
            for tenant in chunk.iter_mut() {
                take(tenant, &mut diagnostics).into_iter().for_each(|resource| slots.push(resource));
            }
            diagnostics
        }),
    };
    for chunk_diagnostics in chunks {
        diagnostics.extend(chunk_diagnostics);
    }
    diagnostics
}

/// Returns `prefix.name`. Addresses are built for every resource, and
/// `format!` costs several times as much as joining the parts.
fn dotted(prefix: &str, name: &str) -> String {
    let mut address = String::with_capacity(prefix.len() + 1 + name.len());
    address.push_str(prefix);
    address.push('.');
    address.push_str(name);
    address
}

fn attrs<const N: usize>(pairs: [(&str, Value); N]) -> Attrs {
    pairs.into_iter().collect()
}

fn get(attrs: &Attrs, name: &str) -> Value {
    attrs.get(name).cloned().unwrap_or(Value::Null)
}

fn lower_tier(tier: &Tier) -> DesiredResource {
    let mut config = attrs([("name", Value::string(&tier.name))]);
    for name in ["price", "currency", "billing_cycle", "trial_days", "limits", "features", "usage_prices", "description"] {
        config.insert(name.to_owned(), get(&tier.attrs, name));
    }
    DesiredResource {
        address: dotted("tier", &tier.name).into(),
        type_name: "catalog_tier".into(),
        provider: Name::from_static(registry::CATALOG_INSTANCE),
        config: config.into(),
        depends_on: Vec::new(),
        span: tier.span.clone(),
        refs: ThinVec::new(),
    }
}

fn lower_policy(policy: &SecurityPolicy) -> DesiredResource {
    let mut config = policy.attrs.clone();
    config.insert("name".to_owned(), Value::string(&policy.name));
    DesiredResource {
        address: dotted("security_policy", &policy.name).into(),
        type_name: "catalog_security_policy".into(),
        provider: Name::from_static(registry::CATALOG_INSTANCE),
        config: config.into(),
        depends_on: Vec::new(),
        span: policy.span.clone(),
        refs: ThinVec::new(),
    }
}

/// Lowers one tenant. `blocks` contains the attributes of each nested block,
/// in the order of `tenant.components`.
fn lower_tenant(
    config: &Config,
    tenant: &Tenant,
    blocks: Vec<Attrs>,
    tier: &Tier,
    policy: Option<&SecurityPolicy>,
    diagnostics: &mut Diagnostics,
) -> Vec<DesiredResource> {
    // The tenant's own resources and its dependents share one copy of
    // each address.
    let address = ArcStr::from(tenant.address());
    let settings = TenantSettings {
        tenant,
        tier,
        policy,
        id: Value::string(&tenant.id),
        tier_name: Value::string(&tier.name),
        policy_name: policy.map_or(Value::Null, |policy| Value::string(&policy.name)),
    };
    let tier_address = ArcStr::from(dotted("tier", &tier.name));
    let mut tenant_depends = vec![tier_address.clone()];
    if let Some(policy) = policy {
        tenant_depends.push(dotted("security_policy", &policy.name).into());
    }
    tenant_depends.extend(depends_on_of(tenant));

    let databases: Vec<Value> = tenant
        .components
        .iter()
        .filter(|component| component.kind == ComponentKind::Database)
        .map(|component| Value::string(&component.label))
        .collect();
    let entry = attrs([
        ("tenant_id", settings.id.clone()),
        ("display_name", get(&tenant.attrs, "name")),
        ("tier", settings.tier_name.clone()),
        ("security_policy", settings.policy_name.clone()),
        ("region", get(&tenant.attrs, "region")),
        ("labels", get(&tenant.attrs, "labels")),
        ("status", get(&tenant.attrs, "status")),
        ("contact_email", get(&tenant.attrs, "contact_email")),
        ("databases", Value::list(databases)),
    ]);
    let subscription = attrs([
        ("tenant_id", settings.id.clone()),
        ("tier", settings.tier_name.clone()),
        ("price", get(&tier.attrs, "price")),
        ("currency", get(&tier.attrs, "currency")),
        ("billing_cycle", get(&tier.attrs, "billing_cycle")),
        ("trial_days", get(&tier.attrs, "trial_days")),
    ]);

    let owned = |suffix: &str, type_name: &str, provider: String, config: Attrs, span: &Span| DesiredResource {
        address: dotted(&address, suffix).into(),
        type_name: Name::new(type_name),
        provider: provider.into(),
        config: config.into(),
        depends_on: vec![address.clone()],
        span: span.clone(),
        refs: ThinVec::new(),
    };

    let mut resources = vec![
        DesiredResource {
            address: address.clone(),
            type_name: "catalog_tenant".into(),
            provider: Name::from_static(registry::CATALOG_INSTANCE),
            config: entry.into(),
            depends_on: tenant_depends,
            span: tenant.span.clone(),
            refs: ThinVec::new(),
        },
        owned("subscription", "catalog_subscription", registry::CATALOG_INSTANCE.to_owned(), subscription, &tenant.span),
    ];
    resources[1].depends_on.push(tier_address);

    for (component, block) in tenant.components.iter().zip(blocks) {
        let Some((type_name, provider, config)) = lower_component(config, component, block, &settings, diagnostics)
        else {
            continue;
        };
        let suffix = match component.kind {
            ComponentKind::Monitoring => "monitoring".to_owned(),
            kind => format!("{}.{}", kind.keyword(), component.label),
        };
        let network_parts = (type_name == "aws_vpc").then(|| aws_network_parts(&config));
        resources.push(owned(&suffix, type_name, provider.clone(), config, &component.span));
        for (part, part_type, part_config) in network_parts.into_iter().flatten() {
            let mut resource = owned(&format!("{suffix}.{part}"), part_type, provider.clone(), part_config, &component.span);
            let vpc = format!("{address}.{suffix}");
            resource.depends_on.push(vpc.clone().into());
            resource.refs.push(AttrRef {
                attr: "vpc_id".to_owned(),
                from: vpc,
                from_attr: "vpc_id".to_owned(),
            });
            resources.push(resource);
        }
    }
    resources
}

/// Returns the subnets and the security group that accompany a tenant VPC.
/// Their `vpc_id` is filled from the VPC at apply time.
fn aws_network_parts(vpc: &Attrs) -> Vec<(&'static str, &'static str, Attrs)> {
    let shared = ["tenant_id", "region", "tier", "security_policy"];
    let base: Attrs = shared
        .iter()
        .map(|name| ((*name).to_owned(), get(vpc, name)))
        .chain([("vpc_id".to_owned(), Value::Unknown)])
        .collect();
    let count = get(vpc, "subnet_count").as_i64().unwrap_or(2).max(1) as u32;
    let cidrs = get(vpc, "cidr")
        .as_str()
        .and_then(|cidr| split_cidr(cidr, count))
        .map_or(Value::Null, |cidrs| Value::List(cidrs.into_iter().map(Value::string).collect()));
    let mut subnets = base.clone();
    subnets.insert("cidrs".to_owned(), cidrs);
    let mut group = base;
    group.insert("allowed_networks".to_owned(), get(vpc, "allowed_networks"));
    vec![("subnets", "aws_subnets", subnets), ("security_group", "aws_security_group", group)]
}

/// Splits an IPv4 CIDR block into `count` equal subnets, the first ones of
/// the smallest prefix that fits them all.
pub fn split_cidr(cidr: &str, count: u32) -> Option<Vec<String>> {
    let (address, prefix) = cidr.split_once('/')?;
    let prefix: u32 = prefix.parse().ok()?;
    let address: std::net::Ipv4Addr = address.parse().ok()?;
    let extra_bits = count.max(1).next_power_of_two().trailing_zeros();
    let new_prefix = prefix + extra_bits;
    if prefix > 32 || new_prefix > 28 {
        return None;
    }
    let base = u32::from(address) & u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    let size = 1u32 << (32 - new_prefix);
    Some(
        (0..count)
            .map(|index| format!("{}/{new_prefix}", std::net::Ipv4Addr::from(base + index * size)))
            .collect(),
    )
}

fn depends_on_of(tenant: &Tenant) -> Vec<ArcStr> {
    match tenant.attrs.get("depends_on").and_then(Value::as_list) {
        Some(items) => items.iter().filter_map(|item| item.as_str().map(ArcStr::from)).collect(),
        None => Vec::new(),
    }
}

/// The tier and policy of the tenant a component belongs to.
struct TenantSettings<'a> {
    tenant: &'a Tenant,
    tier: &'a Tier,
    policy: Option<&'a SecurityPolicy>,
    /// The tenant id, tier name and policy name (or null) as values, which
    /// every resource of the tenant shares.
    id: Value,
    tier_name: Value,
    policy_name: Value,
}

impl TenantSettings<'_> {
    fn limit(&self, name: &str) -> Option<f64> {
        self.tier.attrs.get("limits")?.as_map()?.get(name)?.as_f64()
    }

    fn policy_value(&self, name: &str) -> Value {
        self.policy.map_or(Value::Null, |policy| get(&policy.attrs, name))
    }

    fn policy_flag(&self, name: &str) -> bool {
        self.policy_value(name).as_bool().unwrap_or(false)
    }

    fn policy_seconds_as_ms(&self, name: &str) -> Value {
        match self.policy_value(name).as_f64() {
            Some(seconds) => Value::Number(seconds * 1000.0),
            None => Value::Null,
        }
    }

    /// Returns true for policies that name a compliance framework or require
    /// MFA: those forbid dangerous commands on shared servers.
    fn is_strict(&self) -> bool {
        let frameworks = self.policy_value("compliance");
        let has_frameworks = frameworks.as_list().is_some_and(|items| !items.is_empty());
        has_frameworks || self.policy_flag("mfa_required")
    }
}

fn lower_component(
    config: &Config,
    component: &Component,
    mut attrs: Attrs,
    settings: &TenantSettings<'_>,
    diagnostics: &mut Diagnostics,
) -> Option<(&'static str, String, Attrs)> {
    let Some((provider_type, type_name)) = registry::component_resource(component.kind, &component.label) else {
        diagnostics.push(
            Diagnostic::error("tenancy::lower::unsupported_component", "Unsupported block")
                .with_label(
                    component.span.clone(),
                    format!("no provider manages `{} \"{}\"`", component.kind.keyword(), component.label),
                )
                .with_help(registry::component_help(component.kind)),
        );
        return None;
    };
    let provider = resolve_instance(config, provider_type, component.provider.as_deref(), &component.span, diagnostics)?;

    // The derived attributes are collected and added in one step: each
    // insert would build the block's attributes anew.
    let mut derived: Vec<(&str, Value)> = vec![("tenant_id", settings.id.clone())];
    match type_name {
        "sqlite_database" => {
            let max_size = settings.limit("storage_gb").map_or(Value::Null, |gb| Value::Number(gb * 1024.0));
            let secure_delete = settings.policy_flag("encryption_at_rest") || !settings.policy_value("retention_days").is_null();
            derived.extend([
                ("max_size_mb", max_size),
                ("secure_delete", Value::Bool(secure_delete)),
                ("audit_logging", Value::Bool(settings.policy_flag("audit_logging"))),
                ("encryption_at_rest", Value::Bool(settings.policy_flag("encryption_at_rest"))),
            ]);
        }
        "postgres_database" => {
            let connections = settings.limit("connections").map_or(Value::Number(-1.0), Value::Number);
            derived.extend([
                ("connection_limit", connections),
                ("statement_timeout_ms", settings.policy_seconds_as_ms("statement_timeout_seconds")),
                ("idle_timeout_ms", settings.policy_seconds_as_ms("idle_timeout_seconds")),
                ("password_rotation_days", settings.policy_value("password_rotation_days")),
                ("audit_logging", Value::Bool(settings.policy_flag("audit_logging"))),
                ("ssl_required", Value::Bool(settings.policy.is_some())),
            ]);
        }
        "redis_user" => {
            if attrs.get("key_prefix").is_none_or(Value::is_null) {
                derived.push(("key_prefix", settings.id.clone()));
            }
            let strict = settings.is_strict();
            let categories: &[&str] = if strict { &["+@all", "-@dangerous"] } else { &["+@all"] };
            derived.extend([
                ("strict", Value::Bool(strict)),
                ("command_categories", Value::List(categories.iter().map(|category| Value::string(*category)).collect())),
            ]);
        }
        "catalog_monitoring" => {}
        _ => {
            if !attrs.contains_key("region") {
                derived.push(("region", get(&settings.tenant.attrs, "region")));
            }
            derived.extend([
                ("tier", settings.tier_name.clone()),
                ("security_policy", settings.policy_name.clone()),
                ("allowed_networks", settings.policy_value("allowed_networks")),
            ]);
            if attrs.get("retention_days").is_none_or(Value::is_null) {
                derived.push(("retention_days", settings.policy_value("retention_days")));
            }
        }
    }
    attrs.extend(derived);
    Some((type_name, provider, attrs))
}

fn lower_resource_block(config: &Config, block: &ResourceBlock, diagnostics: &mut Diagnostics) -> Option<DesiredResource> {
    let Some(provider_type) = registry::provider_for_resource_type(&block.type_name) else {
        diagnostics.push(
            Diagnostic::error("tenancy::lower::unknown_resource_type", "Unknown resource type")
                .with_label(block.span.clone(), format!("no provider manages `{}`", block.type_name))
                .with_help(format!("Known resource types: {}.", registry::resource_types().join(", "))),
        );
        return None;
    };
    let provider = resolve_instance(config, provider_type, block.provider.as_deref(), &block.span, diagnostics)?;
    Some(DesiredResource {
        address: format!("{}.{}", block.type_name, block.name).into(),
        type_name: Name::new(&block.type_name),
        provider: provider.into(),
        config: block.attrs.clone().into(),
        depends_on: block.depends_on.iter().map(|address| ArcStr::from(address.as_str())).collect(),
        span: block.span.clone(),
        refs: ThinVec::new(),
    })
}

/// Resolves a `provider` attribute to a declared instance, or the default
/// instance of the type when the attribute is absent.
fn resolve_instance(
    config: &Config,
    provider_type: &str,
    requested: Option<&str>,
    span: &Span,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    let Some(requested) = requested else {
        return Some(provider_type.to_owned());
    };
    let declared = config.providers.iter().any(|block| block.instance() == requested);
    let matches_type = requested.split('.').next() == Some(provider_type);
    if declared && matches_type {
        return Some(requested.to_owned());
    }
    let help = if matches_type {
        format!("Declare it with `provider \"{provider_type}\" {{ alias = \"...\" }}`, or remove the `provider` attribute.")
    } else {
        format!("This block needs a `{provider_type}` provider instance, such as `{provider_type}` or `{provider_type}.ALIAS`.")
    };
    diagnostics.push(
        Diagnostic::error("tenancy::lower::unknown_provider_instance", "Unknown provider instance")
            .with_label(span.clone(), format!("provider `{requested}` is not declared"))
            .with_help(help),
    );
    None
}

fn check_dependencies(desired: &Desired, diagnostics: &mut Diagnostics) {
    for resource in &desired.resources {
        for dependency in &resource.depends_on {
            if !desired.contains(dependency) {
                diagnostics.push(
                    Diagnostic::error("tenancy::lower::unknown_dependency", "Unknown dependency")
                        .with_label(resource.span.clone(), format!("`{dependency}` is not a resource of this configuration"))
                        .with_help("Use the address of a declared tier, policy, tenant or resource in `depends_on`."),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_resource(config: Attrs) -> Desired {
        let mut desired = Desired::default();
        let resource = DesiredResource {
            address: "tenant.acme".into(),
            type_name: Name::new("catalog_tenant"),
            provider: Name::new("sqlite"),
            config: config.into(),
            depends_on: Vec::new(),
            span: Span::new(0, 0..0),
            refs: ThinVec::new(),
        };
        desired.add(resource).expect("the address is free");
        desired
    }

    #[test]
    fn share_recorded_keeps_a_selection() {
        let config = Attrs::from([("name", Value::string("Acme")), ("tier", Value::string("pro"))]);
        let recorded = Attrs::from([
            ("created_at", Value::string("2026-12-05T10:00:00Z")),
            ("name", Value::string("Acme")),
            ("tier", Value::string("pro")),
        ]);
        let mut desired = one_resource(config.clone());

        desired.share_recorded("tenant.acme", &recorded);

        let shared = &desired.resources[0].config;
        assert!(shared.is_shared());
        assert_eq!(shared.to_attrs(), config);
        assert_eq!(shared.clone().into_attrs(), config);
    }

    #[test]
    fn share_recorded_skips_changed_and_empty_configs() {
        let config = Attrs::from([("name", Value::string("Acme")), ("tier", Value::string("pro"))]);
        let changed = Attrs::from([("name", Value::string("Acme")), ("tier", Value::string("free"))]);
        let mut desired = one_resource(config.clone());
        let mut empty = one_resource(Attrs::new());

        desired.share_recorded("tenant.acme", &changed);
        desired.share_recorded("tenant.other", &config);
        empty.share_recorded("tenant.acme", &config);

        assert!(!desired.resources[0].config.is_shared());
        assert_eq!(desired.resources[0].config.to_attrs(), config);
        assert!(!empty.resources[0].config.is_shared());
        assert_eq!(empty.resources[0].config.to_attrs(), Attrs::new());
    }

    #[test]
    fn split_cidr_halves_and_quarters() {
        assert_eq!(split_cidr("10.1.0.0/16", 2).unwrap(), ["10.1.0.0/17", "10.1.128.0/17"]);
        assert_eq!(
            split_cidr("10.0.0.0/24", 3).unwrap(),
            ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26"]
        );
    }

    #[test]
    fn many_tenants_keep_configuration_order() {
        let count = PARALLEL_LOWER_MIN + 10;
        let mut text = String::from("tier \"pro\" {\n  price    = 1\n  currency = \"EUR\"\n}\n");
        for index in 0..count {
            text.push_str(&format!(
                "tenant \"t{index:04}\" {{\n  name   = \"T\"\n  tier   = tier.pro\n  region = \"eu-central-1\"\n}}\n"
            ));
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("main.hcl"), text).expect("the configuration is written");
        let config = crate::lang::load(dir.path(), &crate::lang::VarInputs::default()).expect("the configuration loads");
        let mut broken = config.clone();
        broken.tenants[7].tier = "missing".to_owned();
        broken.tenants[count - 3].tier = "missing".to_owned();

        let desired = lower(&config).expect("every tier exists");
        let diagnostics = lower(&broken).expect_err("two tenants name a missing tier");

        let tenants: Vec<&str> = desired
            .resources
            .iter()
            .filter(|resource| resource.type_name == "catalog_tenant")
            .map(|resource| resource.address.as_str())
            .collect();
        let expected: Vec<String> = (0..count).map(|index| format!("tenant.t{index:04}")).collect();
        assert_eq!(tenants, expected);
        for (position, resource) in desired.resources.iter().enumerate() {
            assert_eq!(desired.position(&resource.address), Some(position));
        }
        let messages: Vec<String> = diagnostics.iter().map(|diagnostic| format!("{diagnostic:?}")).collect();
        assert_eq!(messages.len(), 2);
        assert!(messages[0].contains(&format!("{:?}", broken.tenants[7].span)), "{}", messages[0]);
        assert!(messages[1].contains(&format!("{:?}", broken.tenants[count - 3].span)), "{}", messages[1]);
    }

    /// Returns a resource with an address and nothing else.
    fn resource(address: &str) -> DesiredResource {
        DesiredResource {
            address: address.to_owned().into(),
            type_name: "item".into(),
            provider: "echo".into(),
            config: Attrs::new().into(),
            depends_on: Vec::new(),
            span: Span::new(0, 0..0),
            refs: ThinVec::new(),
        }
    }

    #[test]
    fn desired_rejects_a_taken_address() {
        let mut desired = Desired::default();

        assert!(desired.add(resource("item.a")).is_ok());
        assert!(desired.add(resource("item.b")).is_ok());
        let taken = desired.add(resource("item.a"));

        assert_eq!(taken.map_err(|resource| resource.address), Err("item.a".into()));
        assert_eq!(desired.resources.len(), 2);
        assert_eq!(desired.position("item.b"), Some(1));
        assert!(!desired.contains("item.c"));
    }

    #[test]
    fn indexing_reports_a_repeated_address() {
        let mut diagnostics = Diagnostics::default();
        let unique = Desired::from_resources(vec![resource("item.a"), resource("item.b")], &mut diagnostics);
        assert!(!diagnostics.has_errors());
        assert_eq!(unique.position("item.b"), Some(1));

        let repeated = vec![resource("item.a"), resource("item.b"), resource("item.a")];
        let desired = Desired::from_resources(repeated, &mut diagnostics);

        assert_eq!(diagnostics.iter().count(), 1);
        assert!(diagnostics.has_errors());
        assert_eq!(desired.resources.len(), 2);
        assert_eq!(desired.position("item.a"), Some(0));
        assert_eq!(desired.position("item.b"), Some(1));
    }

    #[test]
    fn taking_tenants_matches_lending_them() {
        for count in [3, PARALLEL_LOWER_MIN + 10] {
            let mut text = String::from("tier \"pro\" {\n  price    = 1\n  currency = \"EUR\"\n}\n");
            for index in 0..count {
                text.push_str(&format!(
                    "tenant \"t{index:04}\" {{\n  name   = \"T\"\n  tier   = tier.pro\n  region = \"eu-central-1\"\n\n  \
                     database \"sqlite\" {{\n    journal_mode = \"wal\"\n  }}\n\n  monitoring {{\n    enabled = true\n  }}\n}}\n"
                ));
            }
            let dir = tempfile::tempdir().expect("a temporary directory");
            std::fs::write(dir.path().join("main.hcl"), text).expect("the configuration is written");
            let mut config =
                crate::lang::load(dir.path(), &crate::lang::VarInputs::default()).expect("the configuration loads");

            let lending = lower(&config).expect("the configuration lowers");
            let taking = lower_taking_tenants(&mut config).expect("the configuration lowers");

            assert_eq!(format!("{:?}", taking.resources), format!("{:?}", lending.resources));
            assert_eq!(taking.resources.len(), 1 + count * 4);
            assert!(config.tenants.is_empty());
        }
    }

    #[test]
    fn split_cidr_rejects_blocks_too_small() {
        assert_eq!(split_cidr("10.0.0.0/28", 2), None);
        assert_eq!(split_cidr("not a cidr", 2), None);
    }
}
