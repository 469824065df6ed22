//! Finding the references an expression makes, before evaluating it: for the
//! order of `locals` and for checking `tenant.<id>` in outputs and policies.

use std::ops::Range;

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ForExpr, Traversal, TraversalOperator};
use hcl_edit::template::ForDirective;
use hcl_edit::visit::{self, Visit};

/// A reference such as `local.region`: its root name, the first attribute
/// after it (if any), and the span of the whole reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The root name: `var`, `local`, `tenant` and so on.
    pub root: String,
    /// The first attribute name after the root, if the reference has one.
    pub attr: Option<String>,
    /// Byte range of the reference in its file.
    pub range: Range<usize>,
}

/// Returns every reference in an expression, in source order, leaving out
/// names bound by `for` expressions and directives.
pub(crate) fn references(expr: &Expression) -> Vec<Reference> {
    let mut collector = Collector::default();
    collector.visit_expr(expr);
    collector.found
}

#[derive(Default)]
struct Collector {
    bound: Vec<String>,
    found: Vec<Reference>,
}

impl Collector {
    fn is_bound(&self, name: &str) -> bool {
        self.bound.iter().any(|bound| bound == name)
    }
}

impl Visit for Collector {
    fn visit_expr(&mut self, node: &Expression) {
        if let Expression::Variable(name) = node {
            if !self.is_bound(name.as_str()) {
                self.found.push(Reference {
                    root: name.as_str().to_owned(),
                    attr: None,
                    range: node.span().unwrap_or(0..0),
                });
            }
            return;
        }
        visit::visit_expr(self, node);
    }

    fn visit_traversal(&mut self, node: &Traversal) {
        if let Expression::Variable(name) = &node.expr {
            if !self.is_bound(name.as_str()) {
                let attr = node.operators.first().and_then(|operator| match operator.value() {
                    TraversalOperator::GetAttr(attr) => Some(attr.as_str().to_owned()),
                    TraversalOperator::Index(Expression::String(key)) => Some(key.value().clone()),
                    _ => None,
                });
                let end = node
                    .operators
                    .first()
                    .and_then(|operator| operator.span())
                    .map_or(node.span().unwrap_or(0..0).end, |range| range.end);
                let start = node.expr.span().map_or(0, |range| range.start);
                self.found.push(Reference {
                    root: name.as_str().to_owned(),
                    attr,
                    range: start..end.max(start),
                });
            }
            for operator in &node.operators {
                self.visit_traversal_operator(operator.value());
            }
            return;
        }
        visit::visit_traversal(self, node);
    }

    fn visit_for_expr(&mut self, node: &ForExpr) {
        self.visit_expr(&node.intro.collection_expr);
        let mark = self.bound.len();
        if let Some(key_var) = &node.intro.key_var {
            self.bound.push(key_var.as_str().to_owned());
        }
        self.bound.push(node.intro.value_var.as_str().to_owned());
        if let Some(key_expr) = &node.key_expr {
            self.visit_expr(key_expr);
        }
        self.visit_expr(&node.value_expr);
        if let Some(cond) = &node.cond {
            self.visit_expr(&cond.expr);
        }
        self.bound.truncate(mark);
    }

    fn visit_for_directive(&mut self, node: &ForDirective) {
        let for_expr = &node.for_expr;
        self.visit_expr(&for_expr.collection_expr);
        let mark = self.bound.len();
        if let Some(key_var) = &for_expr.key_var {
            self.bound.push(key_var.as_str().to_owned());
        }
        self.bound.push(for_expr.value_var.as_str().to_owned());
        self.visit_template(&for_expr.template);
        self.bound.truncate(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(text: &str) -> Vec<(String, Option<String>)> {
        let expr = hcl_edit::parser::parse_expr(text).unwrap();
        references(&expr).into_iter().map(|r| (r.root, r.attr)).collect()
    }

    #[test]
    fn finds_nested_references() {
        let found = roots("merge(local.a, { x = var.b[0] })");
        assert_eq!(
            found,
            vec![("local".into(), Some("a".into())), ("var".into(), Some("b".into()))]
        );
    }

    #[test]
    fn skips_for_variables() {
        let found = roots("[for item in local.items : item.name]");
        assert_eq!(found, vec![("local".into(), Some("items".into()))]);
    }

    #[test]
    fn finds_references_in_templates() {
        let found = roots("\"${local.a}-%{ for x in var.xs }${x}%{ endfor }\"");
        assert_eq!(
            found,
            vec![("local".into(), Some("a".into())), ("var".into(), Some("xs".into()))]
        );
    }
}
