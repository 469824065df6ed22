//! Evaluation after loading: `output` values against tenant values, and
//! custom `policy` rules against every tenant.

use std::borrow::Cow;

use hcl_edit::expr::Expression;
use hcl_edit::structure::Structure;
use tenancy_sdk::Value;

use crate::config::{Config, PolicyRule, Severity, Tenant};
use crate::lang::blocks::named_objects;
use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::eval::{Context, to_bool, type_label};
use crate::lang::source::Span;
use crate::lang::tenants::tenant_object;

/// The values every expression after loading may use.
struct Roots {
    variables: Value,
    locals: Value,
    tiers: Value,
    policies: Value,
}

impl Roots {
    fn new(config: &Config) -> Roots {
        Roots {
            variables: Value::Map(
                config.variables.iter().map(|(name, variable)| (name.clone(), variable.value.clone())).collect(),
            ),
            locals: Value::map(config.locals.clone()),
            tiers: named_objects(config.tiers.iter().map(|tier| (tier.name.as_str(), &tier.attrs))),
            policies: named_objects(config.security_policies.iter().map(|policy| (policy.name.as_str(), &policy.attrs))),
        }
    }

    fn context<'a>(&'a self, config: &'a Config, file: usize, tenant: &'a Value) -> Context<'a> {
        let mut context = Context::new(file, &config.dir);
        context.bind("var", Cow::Borrowed(&self.variables));
        context.bind("local", Cow::Borrowed(&self.locals));
        context.bind("tier", Cow::Borrowed(&self.tiers));
        context.bind("security_policy", Cow::Borrowed(&self.policies));
        context.bind("tenant", Cow::Borrowed(tenant));
        context.forbid("each", "`each` is available only in a `tenant` block with `for_each`.");
        context
    }
}

/// Evaluates every output with `tenant` bound to `tenants`: a map from
/// tenant label to the tenant's object (or, under `for_each`, to a map from
/// key to object). Outputs declared sensitive come back sensitive.
pub fn evaluate_outputs(config: &Config, tenants: &Value) -> Result<Vec<(String, Value)>, Diagnostics> {
    let roots = Roots::new(config);
    let mut values = Vec::new();
    let mut diagnostics = Diagnostics::new();
    for output in &config.outputs {
        let context = roots.context(config, output.span.file, tenants);
        match context.eval(&output.value) {
            Ok(value) if output.sensitive => values.push((output.name.clone(), Value::sensitive(value))),
            Ok(value) => values.push((output.name.clone(), value)),
            Err(diagnostic) => diagnostics.push(*diagnostic),
        }
    }
    if diagnostics.has_errors() { Err(diagnostics) } else { Ok(values) }
}

/// Returns the `tenant` value outputs see for a configuration's tenants,
/// built from the configuration alone (attributes that exist only after
/// apply are absent).
pub fn tenants_value(config: &Config) -> Value {
    let mut map = std::collections::BTreeMap::new();
    for tenant in &config.tenants {
        let object = tenant_object(tenant);
        match &tenant.key {
            Some(key) => {
                let entry = map.entry(tenant.name.clone()).or_insert_with(|| Value::Map(Default::default()));
                if let Value::Map(instances) = entry {
                    instances.insert(key.clone(), object);
                }
            }
            None => {
                map.insert(tenant.name.clone(), object);
            }
        }
    }
    Value::map(map)
}

/// Evaluates each `policy` rule once per tenant, returning a diagnostic for
/// every tenant that breaks a rule (with the rule's severity) and for every
/// rule that cannot be evaluated.
pub fn evaluate_policy_rules(config: &Config) -> Diagnostics {
    let roots = Roots::new(config);
    let mut diagnostics = Diagnostics::new();
    for rule in &config.policies {
        let message_expr = message_expression(config, rule);
        for tenant in &config.tenants {
            let object = tenant_object(tenant);
            let context = roots.context(config, rule.span.file, &object);
            if let Some(diagnostic) = check_rule(config, rule, tenant, &context, message_expr.as_ref()) {
                diagnostics.push(diagnostic);
            }
        }
    }
    diagnostics.dedup();
    diagnostics
}

fn check_rule(
    config: &Config,
    rule: &PolicyRule,
    tenant: &Tenant,
    context: &Context,
    message_expr: Option<&Expression>,
) -> Option<Diagnostic> {
    let result = match context.eval(&rule.condition) {
        Ok(result) => result,
        Err(diagnostic) => return Some(*diagnostic),
    };
    if result.is_unknown() {
        return None;
    }
    let Some(passed) = to_bool(&result) else {
        return Some(
            Diagnostic::error("tenancy::policy::invalid_condition", "Invalid policy condition")
                .with_label(context.span_of(&rule.condition), format!("the condition must return a bool, found {}", type_label(&result))),
        );
    };
    if passed {
        return None;
    }
    let message = match message_expr.map(|expr| context.eval(expr)) {
        Some(Ok(value)) if value.contains_sensitive() => "(the message uses a sensitive value)".to_owned(),
        Some(Ok(value)) => value.as_str().map_or_else(|| rule.error_message.clone(), str::to_owned),
        _ => rule.error_message.clone(),
    };
    let diagnostic = match rule.severity {
        Severity::Error => Diagnostic::error("tenancy::policy::violation", "Policy violation"),
        Severity::Warning => Diagnostic::warning("tenancy::policy::violation", "Policy violation"),
    };
    Some(
        diagnostic
            .with_label(first_line(config, &tenant.span), format!("`{}` breaks the policy `{}`", tenant.address(), rule.name))
            .with_label(context.span_of(&rule.condition), message)
            .with_help(format!("Change the tenant so that the condition of policy `{}` holds, or change the policy.", rule.name)),
    )
}

/// Returns the `error_message` expression of a rule when it refers to
/// `tenant`, found again in the rule's file by the block's span.
fn message_expression(config: &Config, rule: &PolicyRule) -> Option<Expression> {
    let source = config.sources.file(&rule.span)?;
    let body = hcl_edit::parser::parse_body(&source.text).ok()?;
    body.iter().find_map(|structure| match structure {
        Structure::Block(block) if block.ident.as_str() == "policy" => {
            use hcl_edit::Span as _;
            if block.span() != Some(rule.span.range.clone()) {
                return None;
            }
            let expr = block.body.get_attribute("error_message")?.value.clone();
            let uses_tenant = crate::lang::eval::refs::references(&expr).iter().any(|reference| reference.root == "tenant");
            uses_tenant.then_some(expr)
        }
        _ => None,
    })
}

/// Returns the span of the first line of a block, for a short label.
fn first_line(config: &Config, span: &Span) -> Span {
    let Some(source) = config.sources.file(span) else {
        return span.clone();
    };
    let start = span.range.start.min(source.text.len());
    let end = source.text[start..]
        .find('\n')
        .map_or(span.range.end, |offset| (start + offset).min(span.range.end));
    Span::new(span.file, start..end.max(start))
}
