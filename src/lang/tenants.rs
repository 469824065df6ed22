//! `tenant` blocks: `for_each` expansion, tier and policy references, tenant
//! ids, and the nested `database`, `storage`, `network` and `monitoring`
//! blocks.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{Attribute, Block};
use tenancy_sdk::Value;

use crate::config::{Component, ComponentKind, Tenant};
use crate::lang::blocks::{depends_on, provider_reference, unknown_label};
use crate::lang::decode::{block_span, decode_body, expect_labels, header_span, label_span};
use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::eval::{Context, ContextFor, type_label};
use crate::lang::schema::{self, BlockSpec};
use crate::lang::source::Span;
use crate::lang::suggest::did_you_mean;

/// Maximum length of a tenant id in bytes, the PostgreSQL identifier limit.
const MAX_ID_BYTES: usize = 63;

/// The parts of the configuration that tenant decoding needs.
pub(crate) struct TenantScope<'s> {
    /// Builds the evaluation context for a file (var, local, tier,
    /// security_policy bound).
    pub context_for: &'s ContextFor<'s>,
    /// Declared tier names.
    pub tiers: Vec<&'s str>,
    /// Declared security policy names.
    pub policies: Vec<&'s str>,
}

/// Decodes `tenant` blocks into tenant instances, block by block in
/// configuration order, so the syntax tree of each block can go once it is
/// decoded, and checks that tenant labels and ids are unique.
#[derive(Default)]
pub(crate) struct TenantCollector {
    tenants: Vec<(Tenant, Span)>,
    // Positions in `tenants` by id, and the first block of each label, so
    // duplicate checks stay linear in the number of tenants.
    position_of_id: HashMap<String, usize>,
    labels_seen: HashMap<String, Span>,
    labels: Vec<String>,
}

impl TenantCollector {
    /// Decodes one `tenant` block, reporting a label or id that an earlier
    /// block took.
    pub(crate) fn add(&mut self, file: usize, block: &Block, scope: &TenantScope, diagnostics: &mut Diagnostics) {
        let Some(labels) = expect_labels(file, block, &["ID"], diagnostics) else { return };
        let label = labels[0].clone();
        if let Some(first) = self.labels_seen.get(&label) {
            diagnostics.push(crate::lang::variables::duplicate_at(file, block, first.clone(), "tenant", &label));
            return;
        }
        self.labels_seen.insert(label.clone(), header_span(file, block));
        self.labels.push(label.clone());
        for (tenant, id_span) in expand(file, block, &label, scope, diagnostics) {
            if let Some(&position) = self.position_of_id.get(&tenant.id) {
                let (first, first_span) = &self.tenants[position];
                diagnostics.push(
                    Diagnostic::error("tenancy::config::duplicate_tenant_id", "Duplicate tenant id")
                        .with_label(id_span, format!("`{}` has the tenant id `{}`", tenant.address(), tenant.id))
                        .with_label(first_span.clone(), format!("`{}` has the same id", first.address()))
                        .with_help("Tenant ids name databases and catalog rows, so each must be unique. Set `id` on one of them."),
                );
                continue;
            }
            self.position_of_id.insert(tenant.id.clone(), self.tenants.len());
            self.tenants.push((tenant, id_span));
        }
    }

    /// Returns the label of every tenant block decoded, in order.
    pub(crate) fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Returns the tenants, in configuration order.
    pub(crate) fn finish(self) -> Vec<Tenant> {
        self.tenants.into_iter().map(|(tenant, _)| tenant).collect()
    }
}

/// The meaning of `each` while a tenant block is decoded.
#[derive(Clone, Copy)]
enum Each<'i> {
    /// The block has no `for_each`, so `each` is not available.
    Absent,
    /// One element of `for_each`: its key and value.
    Instance(&'i (String, Value)),
    /// A check of the block alone, with `each.key` and `each.value` unknown,
    /// because `for_each` failed or has no elements. It reports the problems
    /// that do not depend on an element and yields no tenant.
    Unknown,
}

/// Returns one tenant per `for_each` element, or the single tenant, each
/// with the span its id comes from.
fn expand(file: usize, block: &Block, label: &str, scope: &TenantScope, diagnostics: &mut Diagnostics) -> Vec<(Tenant, Span)> {
    let Some(for_each) = block.body.get_attribute("for_each") else {
        return decode_instance(file, block, label, Each::Absent, scope, diagnostics).into_iter().collect();
    };
    let context = (scope.context_for)(file);
    let instances = match context.eval(&for_each.value) {
        Ok(value) => for_each_instances(&value, context.span_of(&for_each.value), diagnostics),
        Err(diagnostic) => {
            diagnostics.push(*diagnostic);
            None
        }
    };
    let instances = instances.unwrap_or_default();
    if instances.is_empty() {
        let _ = decode_instance(file, block, label, Each::Unknown, scope, diagnostics);
        return Vec::new();
    }
    let mut tenants = Vec::new();
    for (key, each_value) in instances {
        let instance = (key, each_value);
        if let Some(tenant) = decode_instance(file, block, label, Each::Instance(&instance), scope, diagnostics) {
            tenants.push(tenant);
        }
    }
    tenants
}

/// Returns the key-value pairs of a `for_each` value: a map, or a list or
/// set of strings (each string is both key and value).
fn for_each_instances(value: &Value, span: Span, diagnostics: &mut Diagnostics) -> Option<Vec<(String, Value)>> {
    let invalid = |message: String| {
        Diagnostic::error("tenancy::config::invalid_for_each", "Invalid for_each value")
            .with_label(span.clone(), message)
            .with_help("`for_each` takes a map, or a list or set of strings, such as `toset([\"berlin\", \"paris\"])`.")
    };
    if value.contains_sensitive() {
        diagnostics.push(invalid("the value is sensitive, and instance keys are shown in every plan".to_owned()));
        return None;
    }
    match value {
        Value::Map(map) => Some(map.iter().map(|(key, item)| (key.clone(), item.clone())).collect()),
        Value::List(items) => {
            let mut pairs: Vec<(String, Value)> = Vec::new();
            let mut keys: HashSet<&str> = HashSet::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let Some(text) = item.as_str() else {
                    diagnostics.push(invalid(format!("element {index} is a {}, not a string", type_label(item))));
                    return None;
                };
                if keys.insert(text) {
                    pairs.push((text.to_owned(), item.clone()));
                }
            }
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Some(pairs)
        }
        other => {
            diagnostics.push(invalid(format!("found a {}; expected a map or a set of strings", type_label(other))));
            None
        }
    }
}

/// Decodes one tenant. Every part is checked even when an earlier part
/// failed, so that one run reports every problem of the block.
fn decode_instance(
    file: usize,
    block: &Block,
    label: &str,
    each: Each,
    scope: &TenantScope,
    diagnostics: &mut Diagnostics,
) -> Option<(Tenant, Span)> {
    let mut context = (scope.context_for)(file);
    let each_object = |key: Value, value: Value| {
        Cow::Owned(Value::map(BTreeMap::from([("key".to_owned(), key), ("value".to_owned(), value)])))
    };
    match each {
        Each::Instance((key, value)) => context.bind("each", each_object(Value::string(key.clone()), value.clone())),
        Each::Unknown => context.bind("each", each_object(Value::Unknown, Value::Unknown)),
        Each::Absent => context.forbid("each", "`each` is available only in a `tenant` block with `for_each`."),
    }

    let values = decode_body(block, &schema::TENANT, &context, diagnostics);
    let tier = values.specials.get("tier").and_then(|attr| named_reference(&context, attr, "tier", &scope.tiers, diagnostics));
    let policy = values
        .specials
        .get("security_policy")
        .map(|attr| named_reference(&context, attr, "security_policy", &scope.policies, diagnostics));
    let id = tenant_id(&context, block, label, each, values.specials.get("id").copied(), diagnostics);
    let mut attrs = values.attrs;
    if let Some(attr) = values.specials.get("depends_on") {
        let addresses = depends_on(file, &attr.value, diagnostics);
        attrs.insert("depends_on".to_owned(), Value::List(addresses.into_iter().map(Value::string).collect()));
    }
    let components = components(file, &values.blocks, &context, diagnostics);

    let key = match each {
        Each::Instance((key, _)) => Some(key.clone()),
        Each::Absent => None,
        Each::Unknown => return None,
    };
    if values.failed {
        return None;
    }
    let (id, id_span) = id?;
    let security_policy = match policy {
        Some(name) => Some(name?),
        None => None,
    };
    let tenant = Tenant {
        name: label.to_owned(),
        key,
        id,
        tier: tier?,
        security_policy,
        attrs,
        components,
        span: block_span(file, block),
    };
    Some((tenant, id_span))
}

/// Reads `tier = tier.pro`, `tier = "pro"` or any expression that yields a
/// tier object or name, and checks that the name is declared.
fn named_reference(
    context: &Context,
    attr: &Attribute,
    kind: &str,
    declared: &[&str],
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    // `tier = tier.NAME` of a declared tier needs no evaluation: the name
    // is the label, and evaluating would copy the whole tier object.
    if let Some(name) = direct_reference(&attr.value, kind).filter(|name| declared.contains(name)) {
        return Some(name.to_owned());
    }
    let value = match context.eval(&attr.value) {
        Ok(value) if value.is_unknown() => return None,
        Ok(value) => value,
        Err(diagnostic) => {
            diagnostics.push(*diagnostic);
            return None;
        }
    };
    let span = context.span_of(&attr.value);
    let noun = kind.replace('_', " ");
    let name_sensitive = value.is_sensitive()
        || value.unmarked().as_map().and_then(|object| object.get("name")).is_some_and(Value::is_sensitive);
    if name_sensitive {
        diagnostics.push(
            Diagnostic::error(format!("tenancy::config::sensitive_{kind}"), format!("Sensitive {noun} name"))
                .with_label(span, format!("`{kind}` comes from a sensitive value"))
                .with_help(format!(
                    "The {noun} name appears in plans and state, so it cannot be secret. \
                     Write `{kind} = {kind}.NAME` or use a value that is not sensitive."
                )),
        );
        return None;
    }
    let name = match value.unmarked() {
        Value::String(name) => Some(name.to_string()),
        Value::Map(object) => object.get("name").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let Some(name) = name else {
        diagnostics.push(
            Diagnostic::error("tenancy::config::wrong_type", "Wrong attribute type")
                .with_label(span, format!("`{kind}`: expected a {noun} reference or name, found {}", type_label(&value)))
                .with_help(format!("Write `{kind} = {kind}.NAME`.")),
        );
        return None;
    };
    if declared.contains(&name.as_str()) {
        return Some(name);
    }
    let diagnostic = Diagnostic::error(format!("tenancy::config::unknown_{kind}"), format!("Unknown {noun}"))
        .with_label(span, format!("no {noun} named `{name}` is declared"));
    diagnostics.push(match did_you_mean(&name, declared.iter().copied()) {
        Some(hint) => diagnostic.with_help(hint),
        None => diagnostic.with_help(format!("Declare it with a `{kind} \"{name}\"` block.")),
    });
    None
}

/// Returns NAME when `expr` is the traversal `ROOT.NAME` of `root`.
fn direct_reference<'e>(expr: &'e Expression, root: &str) -> Option<&'e str> {
    let Expression::Traversal(traversal) = expr else {
        return None;
    };
    let [operator] = traversal.operators.as_slice() else {
        return None;
    };
    let TraversalOperator::GetAttr(name) = operator.value() else {
        return None;
    };
    (traversal.expr.as_variable()?.as_str() == root).then_some(name.as_str())
}

/// Computes and checks the tenant id: `id` when set, else the label, or
/// `LABEL_KEY` under `for_each`. An id that depends on an unknown `each`
/// is not checked.
fn tenant_id(
    context: &Context,
    block: &Block,
    label: &str,
    each: Each,
    id_attr: Option<&Attribute>,
    diagnostics: &mut Diagnostics,
) -> Option<(String, Span)> {
    let (id, span) = match id_attr {
        Some(attr) => {
            let value = match context.eval(&attr.value) {
                Ok(value) if value.is_unknown() => return None,
                Ok(value) => value,
                Err(diagnostic) => {
                    diagnostics.push(*diagnostic);
                    return None;
                }
            };
            if value.contains_sensitive() {
                diagnostics.push(
                    Diagnostic::error("tenancy::config::sensitive_tenant_id", "Sensitive tenant id")
                        .with_label(context.span_of(&attr.value), "`id` comes from a sensitive value")
                        .with_help(
                            "A tenant id appears in addresses, plans and database names, so it cannot be secret. \
                             Set `id` from a value that is not sensitive.",
                        ),
                );
                return None;
            }
            let Some(text) = value.as_str().map(str::to_owned) else {
                diagnostics.push(
                    Diagnostic::error("tenancy::config::wrong_type", "Wrong attribute type")
                        .with_label(context.span_of(&attr.value), format!("`id`: expected a string, found {}", type_label(&value))),
                );
                return None;
            };
            (text, context.span_of(&attr.value))
        }
        None => match each {
            Each::Instance((key, _)) => (format!("{label}_{key}"), label_span(context.file, block, 0)),
            Each::Absent => (label.to_owned(), label_span(context.file, block, 0)),
            Each::Unknown => return None,
        },
    };
    if let Some(problem) = id_problem(&id) {
        let suggestion = suggest_id(&id);
        let fix = if id_attr.is_some() || matches!(each, Each::Absent) {
            format!("Use `{suggestion}` instead.")
        } else {
            format!("Set `id` in the block, such as `id = \"{suggestion}\"`, or use keys that are valid ids.")
        };
        diagnostics.push(
            Diagnostic::error("tenancy::config::invalid_tenant_id", "Invalid tenant id")
                .with_label(span, format!("the tenant id `{id}` {problem}"))
                .with_help(format!(
                    "A tenant id names databases, so it must match `^[a-z_][a-z0-9_]*$` and be at most {MAX_ID_BYTES} bytes. {fix}"
                )),
        );
        return None;
    }
    Some((id, span))
}

/// Returns why an id is not a valid database identifier, if it is not.
pub(crate) fn id_problem(id: &str) -> Option<&'static str> {
    let mut chars = id.chars();
    match chars.next() {
        None => return Some("is empty"),
        Some(first) if !(first.is_ascii_lowercase() || first == '_') => {
            return Some("must start with a lowercase letter or `_`");
        }
        _ => {}
    }
    if !chars.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_') {
        return Some("may contain only lowercase letters, digits and `_`");
    }
    if id.len() > MAX_ID_BYTES {
        return Some("is longer than 63 bytes");
    }
    None
}

/// Returns a valid id close to `id`: lowercased, other characters replaced
/// by `_`, prefixed when it starts with a digit, and cut to 63 bytes.
pub(crate) fn suggest_id(id: &str) -> String {
    let mut fixed: String = id
        .to_lowercase()
        .chars()
        .map(|ch| if ch.is_ascii_lowercase() || ch.is_ascii_digit() { ch } else { '_' })
        .collect();
    if !fixed.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_') {
        fixed.insert(0, 't');
        fixed.insert(1, '_');
    }
    fixed.truncate(MAX_ID_BYTES);
    fixed
}

fn components(file: usize, blocks: &[&Block], context: &Context, diagnostics: &mut Diagnostics) -> Vec<Component> {
    let mut components: Vec<Component> = Vec::new();
    for block in blocks {
        let Some(component) = component(file, block, context, diagnostics) else { continue };
        let same = |other: &&Component| other.kind == component.kind && other.label == component.label;
        if let Some(first) = components.iter().find(same) {
            diagnostics.push(
                Diagnostic::error("tenancy::config::duplicate_component", "Duplicate block")
                    .with_label(header_span(file, block), format!("a second `{}` block with this label", component.kind.keyword()))
                    .with_label(first.span.clone(), "first declared here")
                    .with_help("A tenant has at most one block of each kind and label. Merge the two blocks."),
            );
            continue;
        }
        components.push(component);
    }
    components
}

fn component(file: usize, block: &Block, context: &Context, diagnostics: &mut Diagnostics) -> Option<Component> {
    let (kind, label, spec): (ComponentKind, String, BlockSpec) = match block.ident.as_str() {
        "monitoring" => {
            expect_labels(file, block, &[], diagnostics)?;
            (ComponentKind::Monitoring, "default".to_owned(), schema::MONITORING)
        }
        keyword => {
            let (kind, what, allowed) = match keyword {
                "database" => (ComponentKind::Database, "database engine", schema::DATABASE_ENGINES),
                "storage" => (ComponentKind::Storage, "storage kind", schema::STORAGE_KINDS),
                _ => (ComponentKind::Network, "network kind", schema::NETWORK_KINDS),
            };
            let label = expect_labels(file, block, &["KIND"], diagnostics)?.remove(0);
            if !allowed.contains(&label.as_str()) {
                diagnostics.push(unknown_label(file, block, what, &label, allowed));
                return None;
            }
            let spec = match kind {
                ComponentKind::Database => schema::database_spec(&label),
                ComponentKind::Storage => schema::STORAGE,
                _ => schema::NETWORK,
            };
            (kind, label, spec)
        }
    };
    let values = decode_body(block, &spec, context, diagnostics);
    let provider = values.specials.get("provider").and_then(|attr| provider_reference(file, &attr.value, diagnostics));
    if values.failed {
        return None;
    }
    Some(Component { kind, label, provider, attrs: values.attrs, span: block_span(file, block) })
}

/// Returns the object a tenant is seen as in `output` and `policy`
/// expressions: its attributes, `id`, `key`, `tier`, `security_policy`, and
/// the `database`, `storage` and `network` maps from block label to
/// attributes, plus `monitoring` when set.
pub(crate) fn tenant_object(tenant: &Tenant) -> Value {
    let mut object = tenant.attrs.clone();
    object.insert("id".to_owned(), Value::string(tenant.id.clone()));
    object.insert("key".to_owned(), tenant.key.clone().map_or(Value::Null, Value::string));
    object.insert("tier".to_owned(), Value::string(tenant.tier.clone()));
    object.insert("security_policy".to_owned(), tenant.security_policy.clone().map_or(Value::Null, Value::string));
    for kind in [ComponentKind::Database, ComponentKind::Storage, ComponentKind::Network] {
        let map = tenant
            .components
            .iter()
            .filter(|component| component.kind == kind)
            .map(|component| (component.label.clone(), component_object(component)))
            .collect();
        object.insert(kind.keyword().to_owned(), Value::Map(map));
    }
    let monitoring = tenant.components.iter().find(|component| component.kind == ComponentKind::Monitoring);
    object.insert("monitoring".to_owned(), monitoring.map_or(Value::Null, component_object));
    Value::map(object.into_map())
}

fn component_object(component: &Component) -> Value {
    let mut attrs = component.attrs.clone();
    attrs.insert("provider".to_owned(), component.provider.clone().map_or(Value::Null, Value::string));
    Value::map(attrs.into_map())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        assert_eq!(id_problem("acme_eu"), None);
        assert_eq!(id_problem("_x1"), None);
        assert!(id_problem("Acme").is_some());
        assert!(id_problem("1acme").is_some());
        assert!(id_problem("acme-eu").is_some());
        assert!(id_problem(&"a".repeat(64)).is_some());
        assert_eq!(id_problem(&"a".repeat(63)), None);
    }

    #[test]
    fn suggested_id_is_valid() {
        for id in ["Acme-EU", "1st", "studios_berlin-mitte", &"x".repeat(80), "café"] {
            let suggestion = suggest_id(id);
            assert_eq!(id_problem(&suggestion), None, "{id} → {suggestion}");
        }
    }
}
