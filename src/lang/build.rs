//! The load pipeline: from parsed files to a checked [`Config`].
//!
//! Blocks are decoded in the order their references need: variables, then
//! locals, then the `tenancy` block, tiers, security policies and
//! providers, and last tenants, resources, outputs, `moved` and `policy`
//! blocks, which may refer to all of the above.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use hcl_edit::structure::{Block, Structure};
use tenancy_sdk::Value;

use crate::config::Config;
use crate::lang::blocks::{self, named_objects};
use crate::lang::decode::header_span;
use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::eval::{Context, FAILED_REFERENCE};
use crate::lang::eval::refs::references;
use crate::lang::loader::{self, Parsed, ParsedFile};
use crate::lang::schema::TOP_LEVEL_BLOCKS;
use crate::lang::source::{SourceMap, Span};
use crate::lang::suggest::did_you_mean;
use crate::lang::tenants::{TenantCollector, TenantScope};
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
    let local_value = Value::map(locals.values.clone());

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
    let mut collector = TenantCollector::default();
    let tenants_complete = collect_tenants(&sources, &files, get("tenant"), &scope, &mut collector, &mut diagnostics);
    let tenant_labels = collector.labels().to_vec();
    let tenants = collector.finish();
    let resources = blocks::resources(get("resource"), &full, &mut diagnostics);
    let outputs = blocks::outputs(get("output"), &full, &mut diagnostics);
    let moved = blocks::moved(get("moved"), &full, &mut diagnostics);
    let rules = blocks::policies(get("policy"), &full, &mut diagnostics);

    for output in &outputs {
        check_tenant_references(&output.value, output.span.file, &tenant_labels, &mut diagnostics);
    }

    if incomplete || !tenants_complete {
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

/// Decodes the tenant blocks of every file in file order, and returns
/// false when a group of them failed to parse.
///
/// Small files still have their tenant blocks in their trees, listed in
/// `tree_blocks`. The deferred blocks of large files are parsed a group at
/// a time by other threads while this one decodes the groups before. Each
/// parsing thread keeps at most two groups' syntax trees alive.
fn collect_tenants(
    sources: &SourceMap,
    files: &[ParsedFile],
    tree_blocks: &[(usize, &Block)],
    scope: &TenantScope,
    collector: &mut TenantCollector,
    diagnostics: &mut Diagnostics,
) -> bool {
    let groups_per_file: Vec<Vec<&[Range<usize>]>> =
        files.iter().map(|parsed| loader::tenant_groups(&parsed.deferred)).collect();
    let groups: Vec<(usize, &[Range<usize>])> = files
        .iter()
        .zip(&groups_per_file)
        .flat_map(|(parsed, groups)| groups.iter().map(|&group| (parsed.file, group)))
        .collect();
    if groups.is_empty() {
        for &(file, block) in tree_blocks {
            collector.add(file, block, scope, diagnostics);
        }
        return true;
    }

    let mut complete = true;
    std::thread::scope(|threads| {
        // The groups are dealt out in turn to one thread per core beside
        // this one, which decodes. With two cores, two parsers were no
        // faster than one. The pages that their trees left behind when the
        // threads ended added 5 to 15 MiB to the peak of a plan of 100,000
        // resources (docs/benchmarks.md).
        let parsers = crate::parallel::threads().saturating_sub(1).clamp(1, groups.len());
        let mut receivers = Vec::with_capacity(parsers);
        for first in 0..parsers {
            let (sender, receiver) = std::sync::mpsc::sync_channel(1);
            receivers.push(receiver);
            let dealt: Vec<(usize, &[Range<usize>])> = groups.iter().skip(first).step_by(parsers).copied().collect();
            threads.spawn(move || {
                for (file, group) in dealt {
                    if sender.send((file, loader::parse_tenant_group(sources, file, group))).is_err() {
                        return;
                    }
                }
            });
        }
        let mut parsed_groups = (0..groups.len()).map_while(|index| receivers[index % parsers].recv().ok());

        let mut tree_blocks = tree_blocks.iter().peekable();
        for (parsed_file, file_groups) in files.iter().zip(&groups_per_file) {
            while let Some(&(file, block)) = tree_blocks.next_if(|(file, _)| *file == parsed_file.file) {
                collector.add(file, block, scope, diagnostics);
            }
            for (file, parsed) in parsed_groups.by_ref().take(file_groups.len()) {
                match parsed {
                    Ok(body) => {
                        let blocks = body.iter().filter_map(Structure::as_block);
                        for block in blocks.filter(|block| block.ident.as_str() == "tenant") {
                            collector.add(file, block, scope, diagnostics);
                        }
                    }
                    Err(diagnostic) => {
                        complete = false;
                        diagnostics.push(diagnostic);
                    }
                }
            }
        }
    });
    complete
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::loader::{ParsedFile, TENANT_GROUP_BYTES, parse_deferred, parse_file};

    /// Returns a configuration of `count` tenants, with a tier, comments
    /// and a `for_each` block between them, and the given extra text at
    /// the end.
    fn many_tenants(count: usize, extra: &str) -> String {
        let mut text = String::from("tier \"pro\" {\n  price    = 1\n  currency = \"EUR\"\n}\n\n");
        for index in 0..count {
            if index == count / 2 {
                text.push_str("# the second half\ntier \"free\" {\n  price    = 0\n  currency = \"EUR\"\n}\n\n");
                text.push_str(
                    "tenant \"fleet\" {\n  for_each = toset([\"a\", \"b\"])\n  name     = \"Fleet ${each.key}\"\n  \
                     tier     = tier.free\n  region   = \"eu-west-1\"\n}\n\n",
                );
            }
            text.push_str(&format!(
                "tenant \"t{index:04}\" {{ # tenant {index}\n  name   = \"T {index}\"\n  tier   = tier.pro\n  \
                 region = \"eu-central-1\"\n\n  database \"sqlite\" {{}}\n\n  monitoring {{\n    \
                 alert_email = \"ops+{index}@example.com\"\n  }}\n}}\n\n"
            ));
        }
        text.push_str(extra);
        text
    }

    /// Builds `text` as one file, with its tenant blocks left in the tree
    /// or deferred and parsed again in groups.
    fn build_text(text: &str, defer: bool) -> Result<Config, LoadFailure> {
        let mut parsed = Parsed::default();
        let file = parsed.sources.add("main.hcl".into(), text);
        let (body, deferred) = if defer {
            parse_deferred(&parsed.sources, file).expect("the text parses")
        } else {
            (parse_file(&parsed.sources, file).expect("the text parses"), Vec::new())
        };
        parsed.files.push(ParsedFile { file, body, deferred });
        build(Path::new("/nonexistent/tenancy-build-test"), &VarInputs::default(), parsed)
    }

    #[test]
    fn deferred_tenants_load_like_kept_ones() {
        let text = many_tenants(2000, "");
        assert!(text.len() > 2 * TENANT_GROUP_BYTES, "the tenant blocks fill three groups");
        assert!(crate::lang::scan::tenant_blocks(&text).is_some(), "the scan finds the tenant blocks");

        let kept = build_text(&text, false).expect("the configuration loads");
        let deferred = build_text(&text, true).expect("the configuration loads");

        assert_eq!(deferred.tenants.len(), 2002);
        assert_eq!(format!("{:?}", deferred.tenants), format!("{:?}", kept.tenants));
        assert_eq!(format!("{deferred:?}"), format!("{kept:?}"));
    }

    #[test]
    fn deferred_tenants_report_like_kept_ones() {
        let extra = "tenant \"t0005\" {\n  name = \"Again\"\n  tier = tier.pro\n  region = \"eu-central-1\"\n}\n\n\
                     tenant \"other\" {\n  id   = \"t0007\"\n  name = \"Same id\"\n  tier = tier.pro\n  region = \"eu-central-1\"\n}\n\n\
                     tenant \"broken\" {\n  name = \"Broken\"\n  tier = tier.missing\n  region = \"eu-central-1\"\n}\n";
        let text = many_tenants(2000, extra);

        let kept = build_text(&text, false).expect_err("the configuration has errors");
        let deferred = build_text(&text, true).expect_err("the configuration has errors");

        let codes: Vec<&str> = deferred.diagnostics.iter().map(|diagnostic| diagnostic.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "tenancy::config::duplicate_tenant",
                "tenancy::config::duplicate_tenant_id",
                "tenancy::expr::unknown_reference"
            ]
        );
        assert_eq!(format!("{:?}", deferred.diagnostics), format!("{:?}", kept.diagnostics));
    }

    #[test]
    fn deferred_tenant_syntax_error_points_at_it() {
        let broken = "tenant \"broken\" {\n  name = = \"x\"\n  tier = tier.pro\n  region = \"eu-central-1\"\n}\n\n\
                      output \"name\" {\n  value = tenant.broken.name\n}\n";
        let text = many_tenants(2000, broken);
        let error_at = text.find("= = ").expect("the broken attribute") + 2;

        let failure = build_text(&text, true).expect_err("a tenant block does not parse");

        let codes: Vec<&str> = failure.diagnostics.iter().map(|diagnostic| diagnostic.code.as_str()).collect();
        assert_eq!(codes, ["tenancy::syntax::invalid"]);
        let diagnostic = failure.diagnostics.iter().next().expect("one diagnostic");
        assert_eq!(diagnostic.labels[0].span.range.start, error_at);
        let help = diagnostic.help.as_deref().unwrap_or_default();
        assert!(help.contains("checked once it parses"), "{help}");
    }
}
