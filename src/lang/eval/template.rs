//! Templates: quoted strings with `${…}` interpolations, heredocs, and the
//! `%{if}` and `%{for}` directives, with `~` whitespace stripping.

use hcl_edit::expr::Expression;
use hcl_edit::template::{Directive, Element, ForDirective, IfDirective, Template};
use tenancy_sdk::Value;

use super::ops::to_bool;
use super::{EvalResult, Evaluator, split_mark, to_string_form, type_label, with_mark};
use crate::lang::diagnostic::Diagnostic;

/// The text of a template while it is being built, with the marks of the
/// values that went into it.
#[derive(Default)]
struct Output {
    text: String,
    sensitive: bool,
    unknown: bool,
}

impl Evaluator<'_, '_> {
    /// Evaluates a template; `trim_start` and `trim_end` strip whitespace
    /// from its first and last literal, as a `~` next to it requests. `nested`
    /// is true for the body of a directive.
    pub(super) fn template(&mut self, template: &Template, trim_start: bool, trim_end: bool, nested: bool) -> EvalResult {
        let elements: Vec<&Element> = template.iter().collect();
        if let [Element::Interpolation(interpolation)] = elements.as_slice() {
            return self.expr(&interpolation.expr);
        }
        let mut output = Output::default();
        for (index, element) in elements.iter().enumerate() {
            match element {
                Element::Literal(literal) => {
                    let strip_before = match index.checked_sub(1) {
                        Some(previous) => strips_after(elements[previous]),
                        None => trim_start,
                    };
                    let strip_after = match elements.get(index + 1) {
                        Some(next) => strips_before(next),
                        None => trim_end,
                    };
                    // The parser removes the indentation of a `<<-` heredoc
                    // from top-level literals only; directive bodies get
                    // the same treatment here.
                    let dedented = match self.heredoc_indent {
                        Some(indent) if nested => dedent_lines(literal.value(), indent),
                        _ => literal.value().clone(),
                    };
                    let mut text: &str = &dedented;
                    if strip_before {
                        text = text.trim_start();
                    }
                    if strip_after {
                        text = text.trim_end();
                    }
                    output.text.push_str(text);
                }
                Element::Interpolation(interpolation) => {
                    let value = self.expr(&interpolation.expr)?;
                    self.append(&mut output, value, &interpolation.expr)?;
                }
                Element::Directive(directive) => match directive.as_ref() {
                    Directive::If(directive) => self.if_directive(&mut output, directive)?,
                    Directive::For(directive) => self.for_directive(&mut output, directive)?,
                },
            }
        }
        let value = if output.unknown { Value::Unknown } else { Value::string(output.text) };
        Ok(with_mark(value, output.sensitive))
    }

    fn append(&self, output: &mut Output, value: Value, expr: &Expression) -> Result<(), Box<Diagnostic>> {
        let (value, sensitive) = split_mark(value);
        output.sensitive |= sensitive;
        if value.is_unknown() {
            output.unknown = true;
            return Ok(());
        }
        match to_string_form(&value) {
            Some(text) => {
                output.text.push_str(&text);
                Ok(())
            }
            None => Err(Box::new(
                Diagnostic::error("tenancy::expr::invalid_template_value", "Invalid template value")
                    .with_label(
                        self.span(expr),
                        format!("a template can include a string, number or bool, not a {}", type_label(&value)),
                    )
                    .with_help("Use `join` or `jsonencode` to turn a collection into a string."),
            )),
        }
    }

    fn if_directive(&mut self, output: &mut Output, directive: &IfDirective) -> Result<(), Box<Diagnostic>> {
        let cond_expr = &directive.if_expr.cond_expr;
        let (condition, sensitive) = split_mark(self.expr(cond_expr)?);
        output.sensitive |= sensitive;
        if condition.is_unknown() {
            output.unknown = true;
            return Ok(());
        }
        let Some(flag) = to_bool(&condition) else {
            let message = format!("the condition must be a bool, found {}", type_label(&condition));
            return Err(self.operand_error(cond_expr, message));
        };
        let endif_strip = directive.endif_expr.strip.strip_start();
        let chosen = if flag {
            let trim_end = match &directive.else_expr {
                Some(else_expr) => else_expr.strip.strip_start(),
                None => endif_strip,
            };
            Some(self.template(&directive.if_expr.template, directive.if_expr.strip.strip_end(), trim_end, true)?)
        } else if let Some(else_expr) = &directive.else_expr {
            Some(self.template(&else_expr.template, else_expr.strip.strip_end(), endif_strip, true)?)
        } else {
            None
        };
        if let Some(value) = chosen {
            self.append(output, value, cond_expr)?;
        }
        Ok(())
    }

    fn for_directive(&mut self, output: &mut Output, directive: &ForDirective) -> Result<(), Box<Diagnostic>> {
        let for_expr = &directive.for_expr;
        let (collection, sensitive) = split_mark(self.expr(&for_expr.collection_expr)?);
        output.sensitive |= sensitive;
        let pairs: Vec<(Value, Value)> = match collection {
            Value::Unknown => {
                output.unknown = true;
                return Ok(());
            }
            Value::List(items) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| (Value::Number(index as f64), item))
                .collect(),
            Value::Map(map) => map.into_iter().map(|(key, item)| (Value::string(key), item)).collect(),
            other => {
                let message = format!("`for` needs a list or a map, found {}", type_label(&other));
                return Err(self.operand_error(&for_expr.collection_expr, message));
            }
        };
        let trim_start = for_expr.strip.strip_end();
        let trim_end = directive.endfor_expr.strip.strip_start();
        for (key, item) in pairs {
            let mark = self.scopes.len();
            if let Some(key_var) = &for_expr.key_var {
                self.scopes.push((key_var.as_str().to_owned(), key));
            }
            self.scopes.push((for_expr.value_var.as_str().to_owned(), item));
            let step = self.template(&for_expr.template, trim_start, trim_end, true);
            self.scopes.truncate(mark);
            self.append(output, step?, &for_expr.collection_expr)?;
        }
        Ok(())
    }
}

/// Removes up to `indent` spaces or tabs after every newline of a literal.
fn dedent_lines(text: &str, indent: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split('\n').enumerate() {
        if index == 0 {
            out.push_str(line);
            continue;
        }
        out.push('\n');
        let strip = line.chars().take(indent).take_while(|ch| *ch == ' ' || *ch == '\t').count();
        out.push_str(&line[strip..]);
    }
    out
}

/// Returns true when an element requests stripping the whitespace before it.
fn strips_before(element: &Element) -> bool {
    match element {
        Element::Literal(_) => false,
        Element::Interpolation(interpolation) => interpolation.strip.strip_start(),
        Element::Directive(directive) => match directive.as_ref() {
            Directive::If(directive) => directive.if_expr.strip.strip_start(),
            Directive::For(directive) => directive.for_expr.strip.strip_start(),
        },
    }
}

/// Returns true when an element requests stripping the whitespace after it.
fn strips_after(element: &Element) -> bool {
    match element {
        Element::Literal(_) => false,
        Element::Interpolation(interpolation) => interpolation.strip.strip_end(),
        Element::Directive(directive) => match directive.as_ref() {
            Directive::If(directive) => directive.endif_expr.strip.strip_end(),
            Directive::For(directive) => directive.endfor_expr.strip.strip_end(),
        },
    }
}
