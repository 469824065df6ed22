//! The evaluated configuration: what the language step hands to lowering.
//!
//! Every expression in these types has been evaluated already, except output
//! values, which may refer to attributes that exist only after apply and are
//! evaluated against state by [`crate::lang::evaluate_outputs`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use tenancy_sdk::{Attrs, Value};

use crate::lang::Diagnostics;
use crate::lang::source::{SourceMap, Span};

/// A configuration directory after loading, evaluation and checks.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The files read, for rendering diagnostics of later steps.
    pub sources: SourceMap,
    /// The `tenancy` block.
    pub settings: Settings,
    /// Input variables with their final values.
    pub variables: BTreeMap<String, Variable>,
    /// Evaluated `locals`.
    pub locals: BTreeMap<String, Value>,
    /// `provider` blocks, in file order.
    pub providers: Vec<ProviderBlock>,
    /// `tier` blocks, in file order.
    pub tiers: Vec<Tier>,
    /// `security_policy` blocks, in file order.
    pub security_policies: Vec<SecurityPolicy>,
    /// Tenant instances, one per `tenant` block or per `for_each` element,
    /// in file order and then key order.
    pub tenants: Vec<Tenant>,
    /// `resource` blocks, in file order.
    pub resources: Vec<ResourceBlock>,
    /// `output` blocks, in file order.
    pub outputs: Vec<Output>,
    /// `moved` blocks, in file order.
    pub moved: Vec<Moved>,
    /// `policy` blocks, in file order.
    pub policies: Vec<PolicyRule>,
    /// Warnings found while loading; errors stop loading instead.
    pub warnings: Diagnostics,
    /// The configuration directory as given to the loader; `file()` paths
    /// in outputs and policies are relative to it.
    pub dir: PathBuf,
}

/// The `tenancy` block.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The `state "KIND"` block; `None` means the local backend with its
    /// defaults.
    pub state: Option<BackendBlock>,
    /// Default number of concurrent operations during apply.
    pub parallelism: Option<usize>,
    /// Source location of the `tenancy` block.
    pub span: Option<Span>,
}

/// A `state "KIND" { … }` block inside `tenancy`.
#[derive(Debug, Clone)]
pub struct BackendBlock {
    /// Backend kind: `local`, `postgres` or `gcs`.
    pub kind: String,
    /// The block's attributes, evaluated.
    pub attrs: Attrs,
    /// Source location of the block.
    pub span: Span,
}

/// An input variable with its final value.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Variable name.
    pub name: String,
    /// The final value, converted to the declared type; sensitive variables
    /// carry the sensitive mark.
    pub value: Value,
    /// Whether the variable is declared sensitive.
    pub sensitive: bool,
    /// The `description` attribute.
    pub description: Option<String>,
    /// Source location of the block.
    pub span: Span,
}

/// A `provider "TYPE"` block.
#[derive(Debug, Clone)]
pub struct ProviderBlock {
    /// Provider type, such as `sqlite` or `postgres`.
    pub type_name: String,
    /// The `alias` attribute, if any.
    pub alias: Option<String>,
    /// Every other attribute, evaluated.
    pub attrs: Attrs,
    /// Source location of the block.
    pub span: Span,
}

impl ProviderBlock {
    /// Returns the instance name used in addresses: `TYPE` or `TYPE.ALIAS`.
    pub fn instance(&self) -> String {
        match &self.alias {
            Some(alias) => format!("{}.{alias}", self.type_name),
            None => self.type_name.clone(),
        }
    }
}

/// A `tier "NAME"` block: a billing tier.
#[derive(Debug, Clone)]
pub struct Tier {
    /// Tier name (the block label).
    pub name: String,
    /// Evaluated attributes with defaults applied: `price` (number),
    /// `currency` (string), `billing_cycle` (string), `trial_days` (number),
    /// `usage_prices` (map of numbers), `limits` (map from the nested
    /// `limits` block), `features` (list of strings), `description`.
    pub attrs: Attrs,
    /// Source location of the block.
    pub span: Span,
}

/// A `security_policy "NAME"` block.
#[derive(Debug, Clone)]
pub struct SecurityPolicy {
    /// Policy name (the block label).
    pub name: String,
    /// Evaluated attributes with defaults applied: `encryption_at_rest`,
    /// `audit_logging`, `mfa_required` (bools), `tls_min_version` (string),
    /// `allowed_networks`, `data_residency`, `compliance` (lists of strings),
    /// `password_rotation_days`, `statement_timeout_seconds`,
    /// `idle_timeout_seconds`, `retention_days` (numbers).
    pub attrs: Attrs,
    /// Source location of the block.
    pub span: Span,
}

/// One tenant instance.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The block label, such as `acme` or `studios`.
    pub name: String,
    /// The `for_each` key of this instance, if the block has `for_each`.
    pub key: Option<String>,
    /// The tenant id used by providers: the label, or `LABEL_KEY` under
    /// `for_each` unless the block sets `id`.
    pub id: String,
    /// The name of the tier the tenant is on.
    pub tier: String,
    /// The name of the security policy, if any.
    pub security_policy: Option<String>,
    /// Other evaluated attributes: `name` (display name), `region`,
    /// `labels` (map of strings), `status`, `contact_email`, and
    /// `depends_on` (list of address strings) when the block sets it.
    pub attrs: Attrs,
    /// Nested `database`, `storage`, `network` and `monitoring` blocks.
    pub components: Vec<Component>,
    /// Source location of the block.
    pub span: Span,
}

impl Tenant {
    /// Returns the tenant's address: `tenant.acme` or `tenant.studios["berlin"]`.
    pub fn address(&self) -> String {
        match &self.key {
            Some(key) => format!("tenant.{}[{}]", self.name, quote_key(key)),
            None => format!("tenant.{}", self.name),
        }
    }
}

/// The kinds of block nested in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// `database "ENGINE"`.
    Database,
    /// `storage "KIND"`.
    Storage,
    /// `network "KIND"`.
    Network,
    /// `monitoring`, a block without a label.
    Monitoring,
}

impl ComponentKind {
    /// Returns the block name.
    pub fn keyword(self) -> &'static str {
        match self {
            ComponentKind::Database => "database",
            ComponentKind::Storage => "storage",
            ComponentKind::Network => "network",
            ComponentKind::Monitoring => "monitoring",
        }
    }
}

/// A block nested in a tenant, such as `database "postgres" { … }`.
#[derive(Debug, Clone)]
pub struct Component {
    /// The kind of nested block.
    pub kind: ComponentKind,
    /// The block label: the engine or cloud, such as `sqlite` or `aws`;
    /// `default` for the unlabeled `monitoring` block.
    pub label: String,
    /// The `provider` attribute as an instance name (`postgres.eu`), if set.
    pub provider: Option<String>,
    /// Every other attribute, evaluated.
    pub attrs: Attrs,
    /// Source location of the block.
    pub span: Span,
}

/// A `resource "TYPE" "NAME"` block.
#[derive(Debug, Clone)]
pub struct ResourceBlock {
    /// Resource type.
    pub type_name: String,
    /// Resource name.
    pub name: String,
    /// The `provider` attribute as an instance name, if set.
    pub provider: Option<String>,
    /// Addresses from `depends_on`.
    pub depends_on: Vec<String>,
    /// Every other attribute, evaluated.
    pub attrs: Attrs,
    /// Source location of the block.
    pub span: Span,
}

/// An `output "NAME"` block, whose value is evaluated after apply.
#[derive(Debug, Clone)]
pub struct Output {
    /// Output name.
    pub name: String,
    /// The `description` attribute.
    pub description: Option<String>,
    /// Whether the output is declared sensitive.
    pub sensitive: bool,
    /// The `value` expression, kept unevaluated.
    pub value: hcl_edit::expr::Expression,
    /// Source location of the `value` expression.
    pub span: Span,
}

/// A `moved { from, to }` block.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The old address.
    pub from: String,
    /// The new address.
    pub to: String,
    /// Source location of the block.
    pub span: Span,
}

/// Severity of a custom `policy` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A failed rule stops the run.
    Error,
    /// A failed rule prints a warning.
    Warning,
}

/// A `policy "NAME"` block: a custom rule checked for every tenant.
#[derive(Debug, Clone)]
pub struct PolicyRule {
    /// Rule name.
    pub name: String,
    /// The `condition` expression, evaluated once per tenant with `tenant`
    /// bound to the tenant's object.
    pub condition: hcl_edit::expr::Expression,
    /// The `error_message` attribute.
    pub error_message: String,
    /// The `severity` attribute.
    pub severity: Severity,
    /// Source location of the block.
    pub span: Span,
}

/// Quotes a `for_each` key for an address: `"berlin"`.
pub fn quote_key(key: &str) -> String {
    serde_json::Value::String(key.to_owned()).to_string()
}
