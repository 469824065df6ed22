//! `locals` blocks: named expressions, evaluated in dependency order.
//!
//! A local value may refer to variables, to other local values and to
//! functions. The loader orders locals by the `local.NAME` references in
//! their expressions and reports a loop as one diagnostic that lists it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl_edit::structure::{Attribute, Block};
use tenancy_sdk::Value;

use crate::lang::decode::expect_labels;
use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::eval::Context;
use crate::lang::eval::refs::references;
use crate::lang::source::Span;

struct Local<'b> {
    file: usize,
    attr: &'b Attribute,
    depends_on: Vec<String>,
}

/// The local values of a configuration after [`evaluate`].
#[derive(Debug, Default)]
pub(crate) struct Evaluated {
    /// The local values that evaluated, by name.
    pub values: BTreeMap<String, Value>,
    /// The local values that failed, or that use a failed variable or local
    /// value; a diagnostic names the first cause of each.
    pub failed: BTreeSet<String>,
}

/// Evaluates every local value. Locals that fail are left out of the values
/// and listed as failed, and the diagnostics give the reason.
/// `failed_variables` are the declared variables without a value.
pub(crate) fn evaluate(
    blocks: &[(usize, &Block)],
    variables: &Value,
    failed_variables: &BTreeSet<String>,
    dir: &Path,
    diagnostics: &mut Diagnostics,
) -> Evaluated {
    let locals = collect(blocks, diagnostics);
    let order = order(&locals, diagnostics);

    // A local that uses a failed local is skipped without a second error:
    // the first diagnostic already names the cause.
    let ordered: BTreeSet<&str> = order.iter().map(String::as_str).collect();
    let mut failed: BTreeSet<&str> = locals.keys().map(|address| address.as_str()).filter(|name| !ordered.contains(name)).collect();
    let mut values = Value::map(BTreeMap::new());
    for name in &order {
        let local = &locals[name];
        if local.depends_on.iter().any(|dependency| failed.contains(dependency.as_str())) {
            failed.insert(name);
            continue;
        }
        let result = {
            let mut context = Context::new(local.file, dir);
            context.bind("var", Cow::Borrowed(variables));
            context.mark_failed("var", failed_variables);
            context.bind("local", Cow::Borrowed(&values));
            forbid_late_roots(&mut context);
            context.eval(&local.attr.value)
        };
        match result {
            Ok(value) => {
                if let Value::Map(map) = &mut values {
                    map.insert(name.clone(), value);
                }
            }
            Err(diagnostic) => {
                failed.insert(name);
                diagnostics.push(*diagnostic);
            }
        }
    }
    let values = match values {
        Value::Map(map) => map.into_inner(),
        _ => BTreeMap::new(),
    };
    let failed = failed.into_iter().map(str::to_owned).collect();
    Evaluated { values, failed }
}

/// Marks the roots that exist only in later blocks as unavailable, with the
/// reason, so that `tier.pro` in a local gets a precise error.
pub(crate) fn forbid_late_roots(context: &mut Context) {
    let reason = "Local values and the blocks they feed are evaluated before tiers, security \
                  policies and tenants; refer to those by name as a string instead.";
    context.forbid("tier", reason);
    context.forbid("security_policy", reason);
    context.forbid("tenant", "Tenant values are available only in `output` and `policy` blocks.");
    context.forbid("each", "`each` is available only in a `tenant` block with `for_each`.");
}

fn collect<'b>(blocks: &[(usize, &'b Block)], diagnostics: &mut Diagnostics) -> BTreeMap<String, Local<'b>> {
    let mut locals: BTreeMap<String, Local<'b>> = BTreeMap::new();
    for &(file, block) in blocks {
        if expect_labels(file, block, &[], diagnostics).is_none() {
            continue;
        }
        for structure in block.body.iter() {
            let Some(attr) = structure.as_attribute() else {
                if let Some(nested) = structure.as_block() {
                    diagnostics.push(
                        Diagnostic::error("tenancy::config::unknown_block", "Unknown block")
                            .with_label(crate::lang::decode::header_span(file, nested), "`locals` holds only `NAME = VALUE` lines")
                            .with_help("Move the block out of `locals`."),
                    );
                }
                continue;
            };
            let name = attr.key.as_str().to_owned();
            if let Some(first) = locals.get(&name) {
                diagnostics.push(
                    Diagnostic::error("tenancy::config::duplicate_local", "Duplicate local value")
                        .with_label(key_span(file, attr), format!("`{name}` is defined again here"))
                        .with_label(key_span(first.file, first.attr), "first defined here")
                        .with_help("Rename or remove one of the two definitions."),
                );
                continue;
            }
            let depends_on = references(&attr.value)
                .into_iter()
                .filter(|reference| reference.root == "local")
                .filter_map(|reference| reference.attr)
                .collect();
            locals.insert(name, Local { file, attr, depends_on });
        }
    }
    locals
}

fn key_span(file: usize, attr: &Attribute) -> Span {
    use hcl_edit::Span as _;
    Span::new(file, attr.key.span().unwrap_or(0..0))
}

/// Returns the locals in an order where each comes after the locals it
/// uses, leaving out the ones on a loop and reporting each loop once.
fn order(locals: &BTreeMap<String, Local>, diagnostics: &mut Diagnostics) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
        OnLoop,
    }
    let mut marks: BTreeMap<&str, Mark> = locals.keys().map(|name| (name.as_str(), Mark::New)).collect();
    let mut ordered = Vec::new();

    // Iterative depth-first search, so that a long chain of locals cannot
    // overflow the stack.
    for start in locals.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start.as_str(), Mark::Active);
        while let Some((name, next)) = stack.pop() {
            let depends_on = &locals[name].depends_on;
            if let Some(dependency) = depends_on.get(next) {
                stack.push((name, next + 1));
                match marks.get(dependency.as_str()).copied() {
                    Some(Mark::New) => {
                        marks.insert(dependency.as_str(), Mark::Active);
                        stack.push((dependency.as_str(), 0));
                    }
                    Some(Mark::Active) => {
                        let position = stack.iter().position(|(entry, _)| *entry == dependency).unwrap_or(0);
                        let cycle: Vec<&str> = stack[position..].iter().map(|(entry, _)| *entry).collect();
                        diagnostics.push(cycle_diagnostic(locals, &cycle));
                        for member in cycle {
                            marks.insert(member, Mark::OnLoop);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if marks[name] == Mark::Active {
                marks.insert(name, Mark::Done);
                ordered.push(name.to_owned());
            }
        }
    }
    ordered
}

fn cycle_diagnostic(locals: &BTreeMap<String, Local>, cycle: &[&str]) -> Diagnostic {
    let mut path: Vec<String> = cycle.iter().map(|name| format!("local.{name}")).collect();
    path.push(format!("local.{}", cycle[0]));
    let mut diagnostic = Diagnostic::error("tenancy::config::local_cycle", "Cycle between local values")
        .with_help(format!("These local values refer to each other: {}. Break the loop.", path.join(" → ")));
    for (index, name) in cycle.iter().enumerate() {
        let local = &locals[*name];
        let next = cycle[(index + 1) % cycle.len()];
        diagnostic = diagnostic.with_label(key_span(local.file, local.attr), format!("`{name}` uses `local.{next}`"));
    }
    diagnostic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluate_text(text: &str) -> (BTreeMap<String, Value>, Diagnostics) {
        let (evaluated, diagnostics) = evaluate_with_failed_variable(text, "none");
        (evaluated.values, diagnostics)
    }

    fn evaluate_with_failed_variable(text: &str, variable: &str) -> (Evaluated, Diagnostics) {
        let body = hcl_edit::parser::parse_body(text).unwrap();
        let blocks: Vec<(usize, &Block)> = body.blocks().map(|block| (0, block)).collect();
        let mut diagnostics = Diagnostics::new();
        let failed = BTreeSet::from([variable.to_owned()]);
        let evaluated = evaluate(&blocks, &Value::Map(tenancy_sdk::ValueMap::new()), &failed, Path::new("."), &mut diagnostics);
        (evaluated, diagnostics)
    }

    #[test]
    fn locals_using_failed_variable_fail_quietly() {
        let text = "locals {\n  a = \"${var.env}-app\"\n  b = local.a\n  c = 1\n}\n";

        let (evaluated, diagnostics) = evaluate_with_failed_variable(text, "env");

        let codes: Vec<&str> = diagnostics.iter().map(|diagnostic| diagnostic.code.as_str()).collect();
        assert_eq!(codes, [crate::lang::eval::FAILED_REFERENCE]);
        assert_eq!(evaluated.failed, BTreeSet::from(["a".to_owned(), "b".to_owned()]));
        assert_eq!(evaluated.values["c"], Value::Number(1.0));
    }

    #[test]
    fn locals_evaluate_in_dependency_order() {
        let (values, diagnostics) = evaluate_text("locals {\n  a = local.b + 1\n  b = 2\n}\n");
        assert!(diagnostics.is_empty(), "{diagnostics}");
        assert_eq!(values["a"], Value::Number(3.0));
    }

    #[test]
    fn cycle_is_reported_once_with_loop() {
        let (values, diagnostics) = evaluate_text("locals {\n  a = local.b\n  b = local.c\n  c = local.a\n}\n");
        assert_eq!(diagnostics.len(), 1, "{diagnostics}");
        let diagnostic = diagnostics.iter().next().unwrap();
        assert_eq!(diagnostic.code, "tenancy::config::local_cycle");
        assert!(diagnostic.help.as_deref().unwrap().contains("local.a → local.b → local.c → local.a"));
        assert!(values.is_empty());
    }

    #[test]
    fn deeply_wrapped_chain_is_an_error() {
        let mut text = String::from("locals {\n  l0 = 0\n");
        for index in 1..2_000 {
            text.push_str(&format!("  l{index} = [local.l{}]\n", index - 1));
        }
        text.push_str("}\n");
        let (values, diagnostics) = evaluate_text(&text);
        assert_eq!(diagnostics.len(), 1, "{diagnostics}");
        assert!(values.len() < 300, "{}", values.len());
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let mut text = String::from("locals {\n  l0 = 0\n");
        for index in 1..5000 {
            text.push_str(&format!("  l{index} = local.l{}\n", index - 1));
        }
        text.push_str("}\n");
        let (values, diagnostics) = evaluate_text(&text);
        assert!(diagnostics.is_empty(), "{diagnostics}");
        assert_eq!(values.len(), 5000);
    }
}
