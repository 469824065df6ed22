//! The load pipeline: from parsed files to a checked [`Config`].
//!
//! Blocks are decoded in the order their references need: variables, then
//! locals, then the `tenancy` block, tiers, security policies and
//! providers, and last tenants, resources, outputs, `moved` and `policy`
//! blocks, which may refer to all of the above.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use hcl_edit::structure::{Block, Structure};
use tenancy_sdk::Value;

use crate::config::Config;
use crate::lang::blocks::{self, named_objects};
use crate::lang::decode::header_span;
use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::eval::{Context, FAILED_REFERENCE};
use crate::lang::eval::refs::references;
use crate::lang::loader::Parsed;
use crate::lang::schema::TOP_LEVEL_BLOCKS;
use crate::lang::source::Span;
use crate::lang::suggest::did_you_mean;
use crate::lang::tenants::{self, TenantScope};
use crate::lang::variables::{self, VarInputs};
use crate::lang::{LoadFailure, locals};

type Blocks<'b> = BTreeMap<&'b str, Vec<(usize, &'b Block)>>;

/// Codes of diagnostics that may only be a consequence of a file that did
/// not parse, because the declaration they miss may be in that file.
const REFERENCE_CODES: &[&str] = &[
    "tenancy::expr::unknown_reference",
    "tenancy::config::unknown_tier",
    "tenancy::config::unknown_security_policy",
    "tenancy::config::unknown_tenant",
];

/// Decodes, evaluates and checks parsed files into a configuration.
pub(crate) fn build(dir: &Path, inputs: &VarInputs, parsed: Parsed) -> Result<Config, LoadFailure> {
    let Parsed { mut sources, files, mut diagnostics, incomplete } = parsed;
    let mut grouped: Blocks = BTreeMap::new();
    for parsed_file in &files {
        group_blocks(parsed_file.file, &parsed_file.body, &mut grouped, &mut diagnostics);
    }
    let get = |name: &str| grouped.get(name).map_or(&[][..], Vec::as_slice);

    // A variable or local value that failed stays declared: references to it
    // fail with `FAILED_REFERENCE`, which is dropped below, so that each
    // cause is reported once.
    let variables = variables::resolve(get("variable"), dir, inputs, &mut sources, &mut diagnostics);
    let var_value =
        Value::Map(variables.values.iter().map(|(name, variable)| (name.clone(), variable.value.clone())).collect());
    let locals = locals::evaluate(get("locals"), &var_value, &variables.failed, dir, &mut diagnostics);
    let local_value = Value::Map(locals.values.clone());

    let base = |file: usize| {
        let mut context = Context::new(file, dir);
        context.bind("var", Cow::Borrowed(&var_value));
        context.bind("local", Cow::Borrowed(&local_value));
        context.mark_failed("var", &variables.failed);
        context.mark_failed("local", &locals.failed);
        locals::forbid_late_roots(&mut context);
        context
    };
    let settings = blocks::settings(get("tenancy"), &base, &mut diagnostics);
    let tiers = blocks::tiers(get("tier"), &base, &mut diagnostics);
    let policies = blocks::security_policies(get("security_policy"), &base, &mut diagnostics);
    let provider_context = |file: usize| {
        let mut context = base(file);
        context.env = Some(&inputs.env);
        context
    };
    let providers = blocks::providers(get("provider"), &provider_context, &mut diagnostics);

    let tier_value = named_objects(tiers.iter().map(|tier| (tier.name.as_str(), &tier.attrs)));
    let policy_value = named_objects(policies.iter().map(|policy| (policy.name.as_str(), &policy.attrs)));
    let full = |file: usize| {
        let mut context = base(file);
        context.bind("tier", Cow::Borrowed(&tier_value));
        context.bind("security_policy", Cow::Borrowed(&policy_value));
        context
    };
    let scope = TenantScope {
        context_for: &full,
        tiers: tiers.iter().map(|tier| tier.name.as_str()).collect(),
        policies: policies.iter().map(|policy| policy.name.as_str()).collect(),
    };
    let tenants = tenants::tenants(get("tenant"), &scope, &mut diagnostics);
    let resources = blocks::resources(get("resource"), &full, &mut diagnostics);
    let outputs = blocks::outputs(get("output"), &full, &mut diagnostics);
    let moved = blocks::moved(get("moved"), &full, &mut diagnostics);
    let rules = blocks::policies(get("policy"), &full, &mut diagnostics);

    let tenant_labels: Vec<String> = get("tenant")
        .iter()
        .filter_map(|(_, block)| block.labels.first().map(|label| label.as_str().to_owned()))
        .collect();
    for output in &outputs {
        check_tenant_references(&output.value, output.span.file, &tenant_labels, &mut diagnostics);
    }

    if incomplete {
        diagnostics.retain(|diagnostic| !REFERENCE_CODES.contains(&diagnostic.code.as_str()));
    }
    if diagnostics.errors().any(|diagnostic| diagnostic.code != FAILED_REFERENCE) {
        diagnostics.retain(|diagnostic| diagnostic.code != FAILED_REFERENCE);
    }
    diagnostics.dedup();
    if diagnostics.has_errors() {
        return Err(LoadFailure { sources, diagnostics });
    }
    Ok(Config {
        sources,
        settings,
        variables: variables.values,
        locals: locals.values,
        providers,
        tiers,
        security_policies: policies,
        tenants,
        resources,
        outputs,
        moved,
        policies: rules,
        warnings: diagnostics,
        dir: dir.to_path_buf(),
    })
}

/// Sorts top-level blocks by type, reporting attributes at the top level
/// and unknown block types.
fn group_blocks<'b>(file: usize, body: &'b hcl_edit::structure::Body, grouped: &mut Blocks<'b>, diagnostics: &mut Diagnostics) {
    for structure in body.iter() {
        match structure {
            Structure::Block(block) => {
                let name = block.ident.as_str();
                if TOP_LEVEL_BLOCKS.contains(&name) {
                    grouped.entry(name).or_default().push((file, block));
                    continue;
                }
                let diagnostic = Diagnostic::error("tenancy::config::unknown_block", "Unknown block")
                    .with_label(header_span(file, block), format!("`{name}` is not a top-level block"));
                diagnostics.push(match did_you_mean(name, TOP_LEVEL_BLOCKS.iter().copied()) {
                    Some(hint) => diagnostic.with_help(hint),
                    None => diagnostic.with_help(format!(
                        "Top-level blocks are {}.",
                        crate::lang::decode::list_names(TOP_LEVEL_BLOCKS.iter().copied())
                    )),
                });
            }
            Structure::Attribute(attr) => {
                use hcl_edit::Span as _;
                let name = attr.key.as_str();
                diagnostics.push(
                    Diagnostic::error("tenancy::config::top_level_attribute", "Attribute outside a block")
                        .with_label(Span::new(file, attr.key.span().unwrap_or(0..0)), format!("`{name}` is set outside any block"))
                        .with_help(format!("Move `{name}` into a `locals` block, or declare it as a variable.")),
                );
            }
        }
    }
}

/// Checks that every `tenant.NAME` in an expression names a tenant block.
fn check_tenant_references(expr: &hcl_edit::expr::Expression, file: usize, labels: &[String], diagnostics: &mut Diagnostics) {
    for reference in references(expr) {
        if reference.root != "tenant" {
            continue;
        }
        let Some(name) = reference.attr else { continue };
        if labels.contains(&name) {
            continue;
        }
        let diagnostic = Diagnostic::error("tenancy::config::unknown_tenant", "Unknown tenant")
            .with_label(Span::new(file, reference.range), format!("no tenant named `{name}` is declared"));
        diagnostics.push(match did_you_mean(&name, labels.iter().map(String::as_str)) {
            Some(hint) => diagnostic.with_help(hint),
            None => diagnostic.with_help("Refer to a tenant by the label of its `tenant` block."),
        });
    }
}
