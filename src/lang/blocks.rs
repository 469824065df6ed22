//! Decoding of the top-level blocks other than variables, locals and
//! tenants: `tenancy`, `tier`, `security_policy`, `provider`, `resource`,
//! `output`, `moved` and `policy`.

use std::collections::{BTreeMap, HashMap};

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::Block;
use tenancy_sdk::{Attrs, Value};

use crate::config::{
    BackendBlock, Moved, Output, PolicyRule, ProviderBlock, ResourceBlock, SecurityPolicy, Settings, Severity, Tier,
};
use crate::lang::decode::{block_span, decode_body, expect_labels, header_span, label_span};
use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::eval::{Context, ContextFor};
use crate::lang::schema::{self, BlockSpec};
use crate::lang::suggest::did_you_mean;
use crate::lang::variables::duplicate;

/// Decodes the `tenancy` block; a second one is an error.
pub(crate) fn settings(blocks: &[(usize, &Block)], context_for: &ContextFor<'_>, diagnostics: &mut Diagnostics) -> Settings {
    let mut settings = Settings::default();
    let mut first: Option<(usize, &Block)> = None;
    for &(file, block) in blocks {
        if let Some((first_file, first_block)) = first {
            diagnostics.push(
                Diagnostic::error("tenancy::config::duplicate_tenancy", "Duplicate tenancy block")
                    .with_label(header_span(file, block), "a second `tenancy` block")
                    .with_label(header_span(first_file, first_block), "first declared here")
                    .with_help("Merge the settings into one `tenancy` block."),
            );
            continue;
        }
        first = Some((file, block));
        if expect_labels(file, block, &[], diagnostics).is_none() {
            continue;
        }
        let context = context_for(file);
        let values = decode_body(block, &schema::TENANCY, &context, diagnostics);
        settings.parallelism = values.attrs.get("parallelism").and_then(Value::as_i64).map(|number| number as usize);
        settings.span = Some(block_span(file, block));
        for nested in values.blocks {
            if settings.state.is_some() {
                diagnostics.push(
                    Diagnostic::error("tenancy::config::duplicate_state", "Duplicate state block")
                        .with_label(header_span(file, nested), "a second `state` block")
                        .with_help("Keep one `state` block."),
                );
                continue;
            }
            settings.state = backend(file, nested, &context, diagnostics);
        }
    }
    settings
}

fn backend(file: usize, block: &Block, context: &Context, diagnostics: &mut Diagnostics) -> Option<BackendBlock> {
    let labels = expect_labels(file, block, &["KIND"], diagnostics)?;
    let kind = labels[0].clone();
    let spec = match kind.as_str() {
        "local" => schema::STATE_LOCAL,
        "postgres" => schema::STATE_POSTGRES,
        "gcs" => schema::STATE_GCS,
        _ => {
            diagnostics.push(unknown_label(file, block, "state backend", &kind, schema::BACKEND_KINDS));
            return None;
        }
    };
    let values = decode_body(block, &spec, context, diagnostics);
    Some(BackendBlock {
        kind,
        attrs: values.attrs,
        span: block_span(file, block),
    })
}

/// Returns the diagnostic for a block label outside a fixed set.
pub(crate) fn unknown_label(file: usize, block: &Block, what: &str, label: &str, allowed: &[&str]) -> Diagnostic {
    let diagnostic = Diagnostic::error(format!("tenancy::config::unknown_{}", what.replace(' ', "_")), format!("Unknown {what}"))
        .with_label(label_span(file, block, 0), format!("`{label}` is not a known {what}"));
    let listed = crate::lang::decode::list_names(allowed.iter().copied());
    match did_you_mean(label, allowed.iter().copied()) {
        Some(hint) => diagnostic.with_help(format!("{hint} Known: {listed}.")),
        None => diagnostic.with_help(format!("Known: {listed}.")),
    }
}

/// Decodes `tier` blocks.
pub(crate) fn tiers(blocks: &[(usize, &Block)], context_for: &ContextFor<'_>, diagnostics: &mut Diagnostics) -> Vec<Tier> {
    let mut tiers: Vec<(usize, &Block, Tier)> = Vec::new();
    for &(file, block) in blocks {
        let Some(labels) = expect_labels(file, block, &["NAME"], diagnostics) else { continue };
        let name = labels[0].clone();
        if let Some((first_file, first, _)) = tiers.iter().find(|(_, _, tier)| tier.name == name) {
            diagnostics.push(duplicate(file, block, *first_file, first, "tier", &name));
            continue;
        }
        let context = context_for(file);
        let values = decode_body(block, &schema::TIER, &context, diagnostics);
        let mut attrs = values.attrs;
        let mut limits: Option<Attrs> = None;
        for nested in values.blocks {
            if limits.is_some() {
                diagnostics.push(
                    Diagnostic::error("tenancy::config::duplicate_limits", "Duplicate limits block")
                        .with_label(header_span(file, nested), "a second `limits` block")
                        .with_help("Merge the limits into one block."),
                );
                continue;
            }
            if expect_labels(file, nested, &[], diagnostics).is_some() {
                limits = Some(decode_body(nested, &schema::LIMITS, &context, diagnostics).attrs);
            }
        }
        attrs.insert("limits".to_owned(), Value::map(limits.unwrap_or_default().into_map()));
        tiers.push((file, block, Tier { name, attrs, span: block_span(file, block) }));
    }
    tiers.into_iter().map(|(_, _, tier)| tier).collect()
}

/// Decodes `security_policy` blocks.
pub(crate) fn security_policies(
    blocks: &[(usize, &Block)],
    context_for: &ContextFor<'_>,
    diagnostics: &mut Diagnostics,
) -> Vec<SecurityPolicy> {
    let mut policies: Vec<(usize, &Block, SecurityPolicy)> = Vec::new();
    for &(file, block) in blocks {
        let Some(labels) = expect_labels(file, block, &["NAME"], diagnostics) else { continue };
        let name = labels[0].clone();
        if let Some((first_file, first, _)) = policies.iter().find(|(_, _, policy)| policy.name == name) {
            diagnostics.push(duplicate(file, block, *first_file, first, "security_policy", &name));
            continue;
        }
        let values = decode_body(block, &schema::SECURITY_POLICY, &context_for(file), diagnostics);
        let policy = SecurityPolicy { name, attrs: values.attrs, span: block_span(file, block) };
        policies.push((file, block, policy));
    }
    policies.into_iter().map(|(_, _, policy)| policy).collect()
}

/// Returns the value `tier.NAME` or `security_policy.NAME` refers to: the
/// attributes plus `name`, keyed by name.
pub(crate) fn named_objects<'a>(items: impl Iterator<Item = (&'a str, &'a Attrs)>) -> Value {
    let mut map = BTreeMap::new();
    for (name, attrs) in items {
        let mut object = attrs.clone();
        object.insert("name".to_owned(), Value::string(name));
        map.insert(name.to_owned(), Value::map(object.into_map()));
    }
    Value::map(map)
}

/// Decodes `provider` blocks; `env()` is allowed in them.
pub(crate) fn providers(
    blocks: &[(usize, &Block)],
    context_for: &ContextFor<'_>,
    diagnostics: &mut Diagnostics,
) -> Vec<ProviderBlock> {
    let mut providers: Vec<(usize, &Block, ProviderBlock)> = Vec::new();
    for &(file, block) in blocks {
        let Some(labels) = expect_labels(file, block, &["TYPE"], diagnostics) else { continue };
        let type_name = labels[0].clone();
        if !schema::PROVIDER_TYPES.contains(&type_name.as_str()) {
            diagnostics.push(unknown_label(file, block, "provider type", &type_name, schema::PROVIDER_TYPES));
            continue;
        }
        let values = decode_body(block, &schema::PROVIDER, &context_for(file), diagnostics);
        let mut attrs = values.attrs;
        let alias = attrs.remove("alias").and_then(|alias| alias.as_str().map(str::to_owned));
        let provider = ProviderBlock { type_name, alias, attrs, span: block_span(file, block) };
        let instance = provider.instance();
        if let Some((first_file, first, _)) = providers.iter().find(|(_, _, other)| other.instance() == instance) {
            diagnostics.push(
                Diagnostic::error("tenancy::config::duplicate_provider", "Duplicate provider instance")
                    .with_label(header_span(file, block), format!("provider instance `{instance}` is declared again here"))
                    .with_label(header_span(*first_file, first), "first declared here")
                    .with_help("Give one of the blocks a different `alias`."),
            );
            continue;
        }
        providers.push((file, block, provider));
    }
    providers.into_iter().map(|(_, _, provider)| provider).collect()
}

/// Returns the address text of a reference expression such as
/// `postgres.eu` or `tenant.studios["berlin"]`; a string literal passes
/// through.
pub(crate) fn reference_text(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(text) => Some(text.value().clone()),
        Expression::Variable(name) => Some(name.as_str().to_owned()),
        Expression::Traversal(traversal) => {
            let mut text = reference_text(&traversal.expr)?;
            for operator in &traversal.operators {
                match operator.value() {
                    TraversalOperator::GetAttr(name) => {
                        text.push('.');
                        text.push_str(name.as_str());
                    }
                    TraversalOperator::Index(Expression::String(key)) => {
                        text.push_str(&format!("[{}]", crate::config::quote_key(key.value())));
                    }
                    TraversalOperator::Index(Expression::Number(number)) => {
                        text.push_str(&format!("[{}]", number.value()));
                    }
                    TraversalOperator::LegacyIndex(index) => text.push_str(&format!("[{}]", index.value())),
                    _ => return None,
                }
            }
            Some(text)
        }
        _ => None,
    }
}

/// Reads `depends_on = [ADDRESS, ...]` into address strings.
pub(crate) fn depends_on(file: usize, expr: &Expression, diagnostics: &mut Diagnostics) -> Vec<String> {
    let context_span = |node: &Expression| {
        use hcl_edit::Span as _;
        crate::lang::source::Span::new(file, node.span().unwrap_or(0..0))
    };
    let Expression::Array(items) = expr else {
        diagnostics.push(
            Diagnostic::error("tenancy::config::invalid_depends_on", "Invalid depends_on")
                .with_label(context_span(expr), "`depends_on` must be a list of addresses")
                .with_help("Write `depends_on = [tenant.acme, resource.TYPE.NAME]`."),
        );
        return Vec::new();
    };
    let mut addresses = Vec::new();
    for item in items.iter() {
        match reference_text(item) {
            Some(address) => addresses.push(address),
            None => diagnostics.push(
                Diagnostic::error("tenancy::config::invalid_depends_on", "Invalid depends_on")
                    .with_label(context_span(item), "not an address")
                    .with_help("Each element is an address such as `tenant.acme` or `tier.pro`."),
            ),
        }
    }
    addresses
}

/// Decodes a `provider = …` reference into an instance name.
pub(crate) fn provider_reference(
    file: usize,
    expr: &Expression,
    diagnostics: &mut Diagnostics,
) -> Option<String> {
    let text = reference_text(expr);
    if text.is_none() {
        use hcl_edit::Span as _;
        diagnostics.push(
            Diagnostic::error("tenancy::config::invalid_provider_reference", "Invalid provider reference")
                .with_label(crate::lang::source::Span::new(file, expr.span().unwrap_or(0..0)), "not a provider instance")
                .with_help("Write the instance as `TYPE` or `TYPE.ALIAS`, such as `provider = postgres.eu`."),
        );
    }
    text
}

/// Decodes `resource` blocks.
pub(crate) fn resources(
    blocks: &[(usize, &Block)],
    context_for: &ContextFor<'_>,
    diagnostics: &mut Diagnostics,
) -> Vec<ResourceBlock> {
    let mut resources: Vec<(usize, &Block, ResourceBlock)> = Vec::new();
    let mut position_of: HashMap<(String, String), usize> = HashMap::new();
    for &(file, block) in blocks {
        let Some(labels) = expect_labels(file, block, &["TYPE", "NAME"], diagnostics) else { continue };
        let (type_name, name) = (labels[0].clone(), labels[1].clone());
        if let Some(&position) = position_of.get(&(type_name.clone(), name.clone())) {
            let (first_file, first, _) = &resources[position];
            diagnostics.push(duplicate(file, block, *first_file, first, "resource", &format!("{type_name}.{name}")));
            continue;
        }
        position_of.insert((type_name.clone(), name.clone()), resources.len());
        let values = decode_body(block, &schema::RESOURCE, &context_for(file), diagnostics);
        let provider = values.specials.get("provider").and_then(|attr| provider_reference(file, &attr.value, diagnostics));
        let depends = values.specials.get("depends_on").map(|attr| depends_on(file, &attr.value, diagnostics));
        let resource = ResourceBlock {
            type_name,
            name,
            provider,
            depends_on: depends.unwrap_or_default(),
            attrs: values.attrs,
            span: block_span(file, block),
        };
        resources.push((file, block, resource));
    }
    resources.into_iter().map(|(_, _, resource)| resource).collect()
}

/// Decodes `output` blocks, keeping each value unevaluated.
pub(crate) fn outputs(blocks: &[(usize, &Block)], context_for: &ContextFor<'_>, diagnostics: &mut Diagnostics) -> Vec<Output> {
    let mut outputs: Vec<(usize, &Block, Output)> = Vec::new();
    for &(file, block) in blocks {
        let Some(labels) = expect_labels(file, block, &["NAME"], diagnostics) else { continue };
        let name = labels[0].clone();
        if let Some((first_file, first, _)) = outputs.iter().find(|(_, _, output)| output.name == name) {
            diagnostics.push(duplicate(file, block, *first_file, first, "output", &name));
            continue;
        }
        let context = context_for(file);
        let values = decode_body(block, &schema::OUTPUT, &context, diagnostics);
        let Some(value) = values.specials.get("value") else { continue };
        let output = Output {
            name,
            description: values.attrs.get("description").and_then(Value::as_str).map(str::to_owned),
            sensitive: values.attrs.get("sensitive").and_then(Value::as_bool).unwrap_or(false),
            value: value.value.clone(),
            span: context.span_of(&value.value),
        };
        outputs.push((file, block, output));
    }
    outputs.into_iter().map(|(_, _, output)| output).collect()
}

/// Decodes `moved` blocks.
pub(crate) fn moved(blocks: &[(usize, &Block)], context_for: &ContextFor<'_>, diagnostics: &mut Diagnostics) -> Vec<Moved> {
    let mut moved = Vec::new();
    for &(file, block) in blocks {
        if expect_labels(file, block, &[], diagnostics).is_none() {
            continue;
        }
        let context = context_for(file);
        let values = decode_body(block, &schema::MOVED, &context, diagnostics);
        let address = |key: &str, diagnostics: &mut Diagnostics| {
            let attr = values.specials.get(key)?;
            let text = reference_text(&attr.value).filter(|_| !matches!(attr.value, Expression::String(_)));
            if text.is_none() {
                diagnostics.push(
                    Diagnostic::error("tenancy::config::invalid_moved", "Invalid moved address")
                        .with_label(context.span_of(&attr.value), format!("`{key}` must be an address"))
                        .with_help("Write an address without quotes, such as `tenant.old_name`."),
                );
            }
            text
        };
        let from = address("from", diagnostics);
        let to = address("to", diagnostics);
        if let (Some(from), Some(to)) = (from, to) {
            moved.push(Moved { from, to, span: block_span(file, block) });
        }
    }
    moved
}

/// Decodes `policy` blocks. A constant `error_message` is evaluated here;
/// one that refers to `tenant` keeps its source text and is evaluated per
/// tenant by the policy check.
pub(crate) fn policies(blocks: &[(usize, &Block)], context_for: &ContextFor<'_>, diagnostics: &mut Diagnostics) -> Vec<PolicyRule> {
    let mut rules: Vec<(usize, &Block, PolicyRule)> = Vec::new();
    for &(file, block) in blocks {
        let Some(labels) = expect_labels(file, block, &["NAME"], diagnostics) else { continue };
        let name = labels[0].clone();
        if let Some((first_file, first, _)) = rules.iter().find(|(_, _, rule)| rule.name == name) {
            diagnostics.push(duplicate(file, block, *first_file, first, "policy", &name));
            continue;
        }
        let spec = policy_spec_for(block);
        let values = decode_body(block, &spec, &context_for(file), diagnostics);
        let Some(condition) = values.specials.get("condition") else { continue };
        let error_message = match block.body.get_attribute("error_message") {
            Some(attr) => match values.attrs.get("error_message").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => attr.value.to_string().trim().to_owned(),
            },
            None => continue,
        };
        let severity = match values.attrs.get("severity").and_then(Value::as_str) {
            Some("warning") => Severity::Warning,
            _ => Severity::Error,
        };
        let rule = PolicyRule {
            name,
            condition: condition.value.clone(),
            error_message,
            severity,
            span: block_span(file, block),
        };
        rules.push((file, block, rule));
    }
    rules.into_iter().map(|(_, _, rule)| rule).collect()
}

/// Returns the policy schema, treating `error_message` as unevaluated when
/// it refers to `tenant`.
fn policy_spec_for(block: &Block) -> BlockSpec {
    let uses_tenant = block.body.get_attribute("error_message").is_some_and(|attr| {
        crate::lang::eval::refs::references(&attr.value).iter().any(|reference| reference.root == "tenant")
    });
    if uses_tenant { POLICY_WITH_TEMPLATE_MESSAGE } else { schema::POLICY }
}

const POLICY_WITH_TEMPLATE_MESSAGE: BlockSpec = BlockSpec {
    name: "policy",
    attrs: &[
        schema::POLICY.attrs[0],
        crate::lang::schema::AttrSpec {
            name: "error_message",
            kind: schema::Kind::Special,
            required: true,
            default: schema::Default::Absent,
        },
        schema::POLICY.attrs[2],
    ],
    blocks: &[],
    open: false,
};
