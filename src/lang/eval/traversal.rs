//! Attribute access, indexing and splats (`[*]` and `.*`).

use hcl_edit::Decorated;
use hcl_edit::expr::{Traversal, TraversalOperator};
use tenancy_sdk::Value;

use super::ops::{to_number, to_string_form};
use super::{EvalResult, Evaluator, split_mark, type_label, with_mark};
use crate::lang::diagnostic::Diagnostic;
use crate::lang::source::Span;
use crate::lang::suggest::did_you_mean;

type Operators = [Decorated<TraversalOperator>];

impl Evaluator<'_, '_> {
    pub(super) fn traversal(&mut self, traversal: &Traversal) -> EvalResult {
        let root = traversal
            .expr
            .as_variable()
            .map(|name| name.as_str())
            .filter(|name| !self.scopes.iter().any(|(bound, _)| bound == name));
        let operators = &traversal.operators;

        // Look `var.x` and the like up in place: cloning a whole root map
        // for every reference would make evaluation quadratic.
        if let (Some(root), Some(first)) = (root, operators.first()) {
            let bound = self.ctx.roots.get(root).map(|value| value.as_ref());
            if let (Some(Value::Map(map)), TraversalOperator::GetAttr(name)) = (bound, first.value()) {
                let Some(member) = map.get(name.as_str()) else {
                    if self.ctx.has_failed(root, name.as_str()) {
                        return Err(self.failed_reference(root, name.as_str(), self.span(first)));
                    }
                    return Err(self.missing_attr(map.keys(), name.as_str(), self.span(first), Some(root)));
                };
                let member = member.clone();
                return self.apply_operators(member, &operators[1..], None);
            }
        }
        let base = self.expr(&traversal.expr)?;
        self.apply_operators(base, operators, root)
    }

    fn apply_operators(&mut self, mut value: Value, operators: &Operators, root: Option<&str>) -> EvalResult {
        let mut index = 0;
        while index < operators.len() {
            let operator = &operators[index];
            let span = self.span(operator);
            match operator.value() {
                TraversalOperator::GetAttr(name) => {
                    let root = if index == 0 { root } else { None };
                    value = self.get_attr(value, name.as_str(), span, root)?;
                }
                TraversalOperator::Index(key_expr) => {
                    let key = self.expr(key_expr)?;
                    value = self.index(value, key, span)?;
                }
                TraversalOperator::LegacyIndex(position) => {
                    value = self.index(value, Value::Number(*position.value() as f64), span)?;
                }
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let end = splat_end(operators, index);
                    value = self.splat(value, &operators[index + 1..end])?;
                    index = end;
                    continue;
                }
            }
            index += 1;
        }
        Ok(value)
    }

    fn splat(&mut self, value: Value, rest: &Operators) -> EvalResult {
        let (value, sensitive) = split_mark(value);
        let items = match value {
            Value::Unknown => return Ok(with_mark(Value::Unknown, sensitive)),
            Value::Null => Vec::new(),
            Value::List(items) => items.into(),
            other => vec![other],
        };
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.apply_operators(item, rest, None)?);
        }
        Ok(with_mark(Value::list(results), sensitive))
    }

    fn get_attr(&mut self, value: Value, name: &str, span: Span, root: Option<&str>) -> EvalResult {
        let (value, sensitive) = split_mark(value);
        let map = match value {
            Value::Unknown => return Ok(with_mark(Value::Unknown, sensitive)),
            Value::Map(map) => map,
            other => {
                let message = format!("a value of type {} has no attribute `{name}`", type_label(&other));
                return Err(Box::new(
                    Diagnostic::error("tenancy::expr::unsupported_attribute", "Unsupported attribute")
                        .with_label(span, message),
                ));
            }
        };
        if let Some(found) = map.get(name) {
            return Ok(with_mark(found.clone(), sensitive));
        }
        // Suggestions would quote the keys of a sensitive object.
        let keys = if sensitive { None } else { Some(map.keys()) };
        Err(self.missing_attr(keys.into_iter().flatten(), name, span, root))
    }

    fn failed_reference(&self, root: &str, name: &str, span: Span) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error(super::FAILED_REFERENCE, "Reference to a failed value")
                .with_label(span, format!("`{root}.{name}` has no value because of an earlier error"))
                .with_help(format!("Fix the error reported for `{root}.{name}`.")),
        )
    }

    fn missing_attr<'k>(
        &self,
        keys: impl Iterator<Item = &'k String>,
        name: &str,
        span: Span,
        root: Option<&str>,
    ) -> Box<Diagnostic> {
        let diagnostic = match root {
            Some(root) => Diagnostic::error("tenancy::expr::unknown_reference", "Unknown reference")
                .with_label(span, missing_root_member(root, name)),
            None => Diagnostic::error("tenancy::expr::unsupported_attribute", "Unsupported attribute")
                .with_label(span, format!("this object has no attribute `{name}`")),
        };
        let keys: Vec<&str> = keys.map(String::as_str).collect();
        let diagnostic = match did_you_mean(name, keys.iter().copied()) {
            Some(hint) => diagnostic.with_help(hint),
            None if root.is_some() && keys.is_empty() => diagnostic,
            None if root.is_some() && keys.len() <= 10 => {
                diagnostic.with_help(format!("Declared: {}.", crate::lang::decode::list_names(keys.into_iter())))
            }
            None => diagnostic,
        };
        Box::new(diagnostic)
    }

    fn index(&mut self, value: Value, key: Value, span: Span) -> EvalResult {
        let (value, value_sensitive) = split_mark(value);
        let (key, key_sensitive) = split_mark(key);
        let sensitive = value_sensitive || key_sensitive;
        if value.is_unknown() || key.is_unknown() {
            return Ok(with_mark(Value::Unknown, sensitive));
        }
        let found = match &value {
            Value::List(items) => list_item(items, &key, key_sensitive, value_sensitive),
            Value::Map(map) => match to_string_form(&key) {
                Some(name) => map.get(&name).cloned().ok_or_else(|| {
                    if key_sensitive {
                        "the sensitive key does not exist".to_owned()
                    } else {
                        format!("the key `{name}` does not exist")
                    }
                }),
                None => Err(format!("a map key must be a string, found {}", type_label(&key))),
            },
            other => Err(format!("a value of type {} cannot be indexed", type_label(other))),
        };
        match found {
            Ok(item) => Ok(with_mark(item, sensitive)),
            Err(message) => Err(Box::new(
                Diagnostic::error("tenancy::expr::invalid_index", "Invalid index").with_label(span, message),
            )),
        }
    }
}

/// Returns the element at `key`, or why there is none. A sensitive key is
/// never quoted in the message, and the length of a sensitive list is never
/// given.
fn list_item(items: &[Value], key: &Value, key_sensitive: bool, list_sensitive: bool) -> Result<Value, String> {
    let Some(number) = to_number(key) else {
        return Err(format!("a list index must be a number, found {}", type_label(key)));
    };
    let index_text = if key_sensitive { "the sensitive index".to_owned() } else { format!("index {number}") };
    if number.fract() != 0.0 || number < 0.0 {
        return Err(format!("a list index must be a whole number >= 0, but {index_text} is not"));
    }
    items
        .get(number as usize)
        .cloned()
        .ok_or_else(|| {
            if list_sensitive {
                format!("{index_text} is out of range for the sensitive list")
            } else {
                format!("{index_text} is out of range for a list of {} elements", items.len())
            }
        })
}

/// Returns the end of the operators a splat applies to: `.*` covers the
/// attribute accesses that follow it, `[*]` everything up to the next splat.
fn splat_end(operators: &Operators, splat: usize) -> usize {
    let attribute_only = matches!(operators[splat].value(), TraversalOperator::AttrSplat(_));
    let mut end = splat + 1;
    while end < operators.len() {
        match operators[end].value() {
            TraversalOperator::GetAttr(_) => {}
            TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_) if !attribute_only => {}
            _ => break,
        }
        end += 1;
    }
    end
}

fn missing_root_member(root: &str, name: &str) -> String {
    match root {
        "var" => format!("no variable named `{name}` is declared"),
        "local" => format!("no local value named `{name}` is declared"),
        "tier" => format!("no tier named `{name}` is declared"),
        "security_policy" => format!("no security policy named `{name}` is declared"),
        "tenant" => format!("no tenant named `{name}` is declared"),
        "each" => format!("`each` has only `key` and `value`, not `{name}`"),
        _ => format!("`{root}` has no attribute `{name}`"),
    }
}
