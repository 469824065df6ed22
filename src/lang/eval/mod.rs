//! Expression evaluation over the `hcl-edit` syntax tree.
//!
//! A [`Context`] binds the root names a block may use (`var`, `local`,
//! `tier`, `security_policy`, `each`, `tenant`) and records whether `env()`
//! is allowed. Evaluation produces [`Value`]s whose unknown and sensitive marks
//! propagate through every operation, and reports a problem as a diagnostic
//! on the span of the sub-expression that caused it.

mod ops;
pub(crate) mod refs;
mod template;
mod traversal;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl_edit::expr::{Expression, ForExpr, FuncCall, Object, ObjectKey};
use tenancy_sdk::Value;

use crate::lang::diagnostic::Diagnostic;
use crate::lang::functions::{self, FnContext};
use crate::lang::source::Span;
use crate::lang::suggest::did_you_mean;

pub(crate) use ops::{split_mark, to_bool, to_number, to_string_form, type_label, values_equal, with_mark};

/// Maximum nesting of expressions and values the evaluator follows before it
/// reports an error instead of risking a stack overflow.
const MAX_DEPTH: usize = 200;

/// Code of the diagnostic for a reference to a value that failed with an
/// error already reported, such as a variable whose validation failed. The
/// loader drops these diagnostics, so each cause is reported once.
pub(crate) const FAILED_REFERENCE: &str = "tenancy::expr::failed_reference";

/// The result of evaluating one expression.
pub(crate) type EvalResult = Result<Value, Box<Diagnostic>>;

/// A function that builds the evaluation context of a block in a given file.
pub(crate) type ContextFor<'c> = dyn Fn(usize) -> Context<'c> + 'c;

/// The names an expression may refer to, and the file it is in.
#[derive(Debug, Clone)]
pub(crate) struct Context<'a> {
    /// Index of the file the expressions come from.
    pub file: usize,
    /// The configuration directory, for `file()`.
    pub dir: &'a Path,
    /// The process environment where `env()` is allowed, `None` elsewhere.
    pub env: Option<&'a [(String, String)]>,
    roots: BTreeMap<String, Cow<'a, Value>>,
    unavailable: Vec<(&'static str, &'static str)>,
    failed: Vec<(&'static str, &'a BTreeSet<String>)>,
}

impl<'a> Context<'a> {
    /// Creates a context with no root names bound.
    pub(crate) fn new(file: usize, dir: &'a Path) -> Context<'a> {
        Context {
            file,
            dir,
            env: None,
            roots: BTreeMap::new(),
            unavailable: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Binds a root name, such as `var`, to a value.
    pub(crate) fn bind(&mut self, name: &str, value: Cow<'a, Value>) {
        self.roots.insert(name.to_owned(), value);
    }

    /// Records why a root name cannot be used here, for a precise error.
    pub(crate) fn forbid(&mut self, name: &'static str, reason: &'static str) {
        self.unavailable.push((name, reason));
    }

    /// Records the members of a root, such as `var`, whose value failed with
    /// an error already reported. A reference to one of them fails with a
    /// [`FAILED_REFERENCE`] diagnostic instead of an unknown reference.
    pub(crate) fn mark_failed(&mut self, root: &'static str, names: &'a BTreeSet<String>) {
        if !names.is_empty() {
            self.failed.push((root, names));
        }
    }

    /// Returns true when `root.name` failed with an error already reported.
    fn has_failed(&self, root: &str, name: &str) -> bool {
        self.failed.iter().any(|(failed_root, names)| *failed_root == root && names.contains(name))
    }

    /// Evaluates an expression.
    pub(crate) fn eval(&self, expr: &Expression) -> EvalResult {
        let mut evaluator = Evaluator {
            ctx: self,
            scopes: Vec::new(),
            depth: 0,
            heredoc_indent: None,
        };
        let value = evaluator.expr(expr)?;

        // Values can nest deeper than any one expression, for example a
        // chain of locals that each wrap the previous one in a list. Copying
        // or dropping such a value recurses once per level, so the depth is
        // bounded here.
        if nesting_exceeds(&value, MAX_DEPTH) {
            return Err(Box::new(
                Diagnostic::error("tenancy::expr::too_deep", "Value nested too deeply")
                    .with_label(self.span_of(expr), format!("this value nests more than {MAX_DEPTH} levels"))
                    .with_help("Flatten the data structure."),
            ));
        }
        Ok(value)
    }

    /// Returns the span of a node of this context's file.
    pub(crate) fn span_of(&self, node: &dyn hcl_edit::Span) -> Span {
        Span::new(self.file, node.span().unwrap_or(0..0))
    }
}

/// One evaluation: the context plus the variables of enclosing `for`
/// expressions and template directives.
pub(crate) struct Evaluator<'c, 'a> {
    ctx: &'c Context<'a>,
    scopes: Vec<(String, Value)>,
    depth: usize,
    /// The indentation `<<-` removed from the heredoc being evaluated.
    heredoc_indent: Option<usize>,
}

impl Evaluator<'_, '_> {
    fn expr(&mut self, expr: &Expression) -> EvalResult {
        self.depth += 1;
        let result = if self.depth > MAX_DEPTH {
            Err(self.too_deep(expr))
        } else {
            self.expr_inner(expr)
        };
        self.depth -= 1;
        result
    }

    fn expr_inner(&mut self, expr: &Expression) -> EvalResult {
        match expr {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(flag) => Ok(Value::Bool(*flag.value())),
            Expression::Number(number) => Ok(number_value(number.value())),
            Expression::String(text) => Ok(Value::string(text.value().clone())),
            Expression::Array(array) => self.array(array.iter()),
            Expression::Object(object) => self.object(object),
            Expression::StringTemplate(template) => {
                let saved = self.heredoc_indent.take();
                let result = self.template(template, false, false, false);
                self.heredoc_indent = saved;
                result
            }
            Expression::HeredocTemplate(heredoc) => {
                let saved = std::mem::replace(&mut self.heredoc_indent, heredoc.indent());
                let result = self.template(&heredoc.template, false, false, false);
                self.heredoc_indent = saved;
                result
            }
            Expression::Parenthesis(inner) => self.expr(inner.inner()),
            Expression::Variable(name) => self.variable(name.as_str(), expr),
            Expression::Conditional(conditional) => self.conditional(
                &conditional.cond_expr,
                &conditional.true_expr,
                &conditional.false_expr,
            ),
            Expression::FuncCall(call) => self.func_call(call, expr),
            Expression::Traversal(traversal) => self.traversal(traversal),
            Expression::UnaryOp(op) => self.unary(op),
            Expression::BinaryOp(op) => self.binary(op),
            Expression::ForExpr(for_expr) => self.for_expr(for_expr),
        }
    }

    fn span(&self, node: &dyn hcl_edit::Span) -> Span {
        self.ctx.span_of(node)
    }

    fn too_deep(&self, expr: &Expression) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error("tenancy::expr::too_deep", "Expression nested too deeply")
                .with_label(self.span(expr), format!("nesting exceeds {MAX_DEPTH} levels here"))
                .with_help("Split the expression into several `locals`."),
        )
    }

    fn array<'e>(&mut self, items: impl Iterator<Item = &'e Expression>) -> EvalResult {
        let mut values = Vec::new();
        for item in items {
            values.push(self.expr(item)?);
        }
        Ok(Value::list(values))
    }

    fn object(&mut self, object: &Object) -> EvalResult {
        let mut map = BTreeMap::new();
        for (key, value) in object.iter() {
            let name = match key {
                ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                ObjectKey::Expression(key_expr) => self.object_key(key_expr, false)?.0,
            };
            map.insert(name, self.expr(value.expr())?);
        }
        Ok(Value::map(map))
    }

    /// Evaluates an object key and returns it with its sensitive mark. A
    /// sensitive key is an error unless `sensitive_allowed`, which a `for`
    /// over a sensitive collection sets because its whole result is marked.
    fn object_key(
        &mut self,
        key_expr: &Expression,
        sensitive_allowed: bool,
    ) -> Result<(String, bool), Box<Diagnostic>> {
        let key = self.expr(key_expr)?;
        // A key carries no mark of its own, so a sensitive key would be
        // printed in plain text wherever the map is shown.
        if key.is_sensitive() && !sensitive_allowed {
            return Err(Box::new(
                Diagnostic::error("tenancy::expr::sensitive_key", "Sensitive value used as a map key")
                    .with_label(self.span(key_expr), "this key comes from a sensitive value")
                    .with_help(
                        "Plans, state and outputs print map keys in plain text, so a key cannot be \
                         secret. Use a value that is not sensitive as the key, and put the sensitive \
                         value in the map's values instead.",
                    ),
            ));
        }
        let name = to_string_form(&key).ok_or_else(|| {
            Box::new(
                Diagnostic::error("tenancy::expr::invalid_key", "Invalid object key")
                    .with_label(
                        self.span(key_expr),
                        format!("an object key must be a string, found {}", type_label(&key)),
                    ),
            )
        })?;
        Ok((name, key.is_sensitive()))
    }

    fn variable(&mut self, name: &str, expr: &Expression) -> EvalResult {
        if let Some((_, value)) = self.scopes.iter().rev().find(|(bound, _)| bound == name) {
            return Ok(value.clone());
        }
        if let Some(value) = self.ctx.roots.get(name) {
            return Ok(value.as_ref().clone());
        }
        Err(Box::new(self.unknown_root(name, expr)))
    }

    fn unknown_root(&self, name: &str, expr: &Expression) -> Diagnostic {
        let diagnostic = Diagnostic::error("tenancy::expr::unknown_reference", "Unknown reference");
        if let Some((_, reason)) = self.ctx.unavailable.iter().find(|(root, _)| *root == name) {
            return diagnostic
                .with_label(self.span(expr), format!("`{name}` is not available here"))
                .with_help(*reason);
        }
        let mut candidates: Vec<&str> = self.ctx.roots.keys().map(|address| address.as_str()).collect();
        candidates.extend(self.scopes.iter().map(|(bound, _)| bound.as_str()));
        let diagnostic = diagnostic.with_label(self.span(expr), format!("`{name}` is not declared"));
        match did_you_mean(name, candidates) {
            Some(hint) => diagnostic.with_help(hint),
            None => diagnostic.with_help(
                "References start with `var.`, `local.`, `tier.`, `security_policy.` or, \
                 inside `for_each`, `each.`.",
            ),
        }
    }

    fn conditional(&mut self, cond: &Expression, yes: &Expression, no: &Expression) -> EvalResult {
        let (condition, sensitive) = split_mark(self.expr(cond)?);
        if condition.is_unknown() {
            return Ok(with_mark(Value::Unknown, sensitive));
        }
        let Some(flag) = ops::to_bool(&condition) else {
            return Err(self.operand_error(cond, format!("the condition must be a bool, found {}", type_label(&condition))));
        };
        let chosen = self.expr(if flag { yes } else { no })?;
        Ok(with_mark(chosen, sensitive))
    }

    fn unary(&mut self, op: &hcl_edit::expr::UnaryOp) -> EvalResult {
        let (operand, sensitive) = split_mark(self.expr(&op.expr)?);
        if operand.is_unknown() {
            return Ok(with_mark(Value::Unknown, sensitive));
        }
        match ops::unary(*op.operator.value(), &operand) {
            Ok(value) => Ok(with_mark(value, sensitive)),
            Err(message) => Err(self.operand_error(&op.expr, message)),
        }
    }

    fn binary(&mut self, op: &hcl_edit::expr::BinaryOp) -> EvalResult {
        let (left, left_sensitive) = split_mark(self.expr(&op.lhs_expr)?);
        let (right, right_sensitive) = split_mark(self.expr(&op.rhs_expr)?);
        let sensitive = left_sensitive || right_sensitive;
        if left.is_unknown() || right.is_unknown() {
            return Ok(with_mark(Value::Unknown, sensitive));
        }
        match ops::binary(*op.operator.value(), &left, &right) {
            Ok(value) => Ok(with_mark(value, sensitive)),
            Err(message) => Err(Box::new(
                Diagnostic::error("tenancy::expr::invalid_operand", "Invalid operand")
                    .with_label(self.span(&op.lhs_expr), type_label(&left))
                    .with_label(self.span(&op.operator), message)
                    .with_label(self.span(&op.rhs_expr), type_label(&right)),
            )),
        }
    }

    fn operand_error(&self, expr: &Expression, message: String) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error("tenancy::expr::invalid_operand", "Invalid operand")
                .with_label(self.span(expr), message),
        )
    }

    fn func_call(&mut self, call: &FuncCall, expr: &Expression) -> EvalResult {
        let name = call.name.name.as_str();
        let name_span = self.span(&call.name.name);
        if call.name.is_namespaced() || !functions::exists(name) {
            let mut diagnostic = Diagnostic::error("tenancy::expr::unknown_function", "Unknown function")
                .with_label(name_span, format!("there is no function named `{name}`"));
            diagnostic = match did_you_mean(name, functions::names()) {
                Some(hint) => diagnostic.with_help(hint),
                None => diagnostic.with_help("The language reference lists every function."),
            };
            return Err(Box::new(diagnostic));
        }
        match name {
            "try" => return self.call_try(call, expr),
            "can" => return self.call_can(call, expr),
            "env" if self.ctx.env.is_none() => return Err(Box::new(env_not_allowed(name_span))),
            _ => {}
        }
        let args = self.call_args(call)?;
        let sensitive_args = args.iter().any(Value::contains_sensitive);
        let fn_context = FnContext {
            dir: self.ctx.dir,
            env: self.ctx.env,
        };
        functions::call(name, args, &fn_context).map_err(|error| {
            let span = match error.arg.and_then(|index| call.args.iter().nth(index)) {
                Some(arg) => self.span(arg),
                None => self.span(expr),
            };
            // A function's message may quote its arguments, so a failure on
            // a sensitive argument keeps the message to itself.
            let (message, help) = if sensitive_args {
                (
                    format!("{name}: failed on a sensitive argument; the message is hidden because it may contain the value"),
                    Some("Call the function on a test value that is not sensitive, for example one passed with `-var`, to see the message."),
                )
            } else {
                (format!("{name}: {}", error.message), None)
            };
            let diagnostic = Diagnostic::error("tenancy::expr::invalid_function_argument", "Invalid function argument")
                .with_label(span, message);
            Box::new(match help {
                Some(help) => diagnostic.with_help(help),
                None => diagnostic,
            })
        })
    }

    fn call_args(&mut self, call: &FuncCall) -> Result<Vec<Value>, Box<Diagnostic>> {
        let mut args = Vec::new();
        for arg in call.args.iter() {
            args.push(self.expr(arg)?);
        }
        if call.args.expand_final() {
            let last_expr = call.args.iter().last();
            let (last, sensitive) = split_mark(args.pop().unwrap_or(Value::Null));
            match last {
                Value::List(items) => args.extend(items.into_iter().map(|item| with_mark(item, sensitive))),
                Value::Unknown => return Ok(vec![with_mark(Value::Unknown, sensitive)]),
                other => {
                    let message = format!("`...` needs a list, found {}", type_label(&other));
                    let span = last_expr.map(|arg| self.span(arg)).unwrap_or_else(|| self.span(&call.name.name));
                    return Err(Box::new(
                        Diagnostic::error("tenancy::expr::invalid_function_argument", "Invalid function argument")
                            .with_label(span, message),
                    ));
                }
            }
        }
        Ok(args)
    }

    fn call_try(&mut self, call: &FuncCall, expr: &Expression) -> EvalResult {
        let mut last_error = None;
        for arg in call.args.iter() {
            match self.expr(arg) {
                Ok(value) => return Ok(value),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Box::new(
                Diagnostic::error("tenancy::expr::invalid_function_argument", "Invalid function argument")
                    .with_label(self.span(expr), "try: needs at least one argument"),
            )
        }))
    }

    fn call_can(&mut self, call: &FuncCall, expr: &Expression) -> EvalResult {
        let mut args = call.args.iter();
        let (Some(arg), None) = (args.next(), args.next()) else {
            return Err(Box::new(
                Diagnostic::error("tenancy::expr::invalid_function_argument", "Invalid function argument")
                    .with_label(self.span(expr), "can: needs exactly one argument"),
            ));
        };
        Ok(Value::Bool(self.expr(arg).is_ok()))
    }

    fn for_expr(&mut self, for_expr: &ForExpr) -> EvalResult {
        let intro = &for_expr.intro;
        let (collection, sensitive) = split_mark(self.expr(&intro.collection_expr)?);
        // The key and value variables keep the collection's mark, so an
        // error inside the body cannot quote an element of a secret.
        let pairs = match collection {
            Value::Unknown => return Ok(with_mark(Value::Unknown, sensitive)),
            Value::List(items) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| (Value::Number(index as f64), with_mark(item, sensitive)))
                .collect::<Vec<_>>(),
            Value::Map(map) => map
                .into_iter()
                .map(|(key, item)| (with_mark(Value::string(key), sensitive), with_mark(item, sensitive)))
                .collect(),
            other => {
                let message = format!("`for` needs a list or a map, found {}", type_label(&other));
                return Err(self.operand_error(&intro.collection_expr, message));
            }
        };
        let result = if for_expr.key_expr.is_some() {
            self.for_object(for_expr, pairs, sensitive)?
        } else {
            self.for_list(for_expr, pairs)?
        };
        Ok(with_mark(result, sensitive))
    }

    fn bind_for(&mut self, for_expr: &ForExpr, key: Value, item: Value) -> usize {
        let mark = self.scopes.len();
        let intro = &for_expr.intro;
        if let Some(key_var) = &intro.key_var {
            self.scopes.push((key_var.as_str().to_owned(), key));
        }
        self.scopes.push((intro.value_var.as_str().to_owned(), item));
        mark
    }

    fn for_condition(&mut self, for_expr: &ForExpr) -> Result<Option<bool>, Box<Diagnostic>> {
        let Some(cond) = &for_expr.cond else {
            return Ok(Some(true));
        };
        let value = self.expr(&cond.expr)?;
        if value.is_unknown() {
            return Ok(None);
        }
        match ops::to_bool(&value) {
            Some(flag) => Ok(Some(flag)),
            None => Err(self.operand_error(
                &cond.expr,
                format!("the `if` clause must be a bool, found {}", type_label(&value)),
            )),
        }
    }

    fn for_list(&mut self, for_expr: &ForExpr, pairs: Vec<(Value, Value)>) -> EvalResult {
        let mut items = Vec::new();
        for (key, item) in pairs {
            let mark = self.bind_for(for_expr, key, item);
            let step = self.for_condition(for_expr).and_then(|keep| match keep {
                Some(true) => self.expr(&for_expr.value_expr).map(Some),
                Some(false) => Ok(None),
                None => Ok(Some(Value::Unknown)),
            });
            self.scopes.truncate(mark);
            if let Some(value) = step? {
                items.push(value);
            }
        }
        Ok(Value::list(items))
    }

    fn for_object(&mut self, for_expr: &ForExpr, pairs: Vec<(Value, Value)>, sensitive: bool) -> EvalResult {
        let Some(key_expr) = &for_expr.key_expr else {
            return Ok(Value::Null);
        };
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (key, item) in pairs {
            let mark = self.bind_for(for_expr, key, item);
            let step = self.for_object_item(for_expr, key_expr, sensitive);
            self.scopes.truncate(mark);
            let Some((name, key_sensitive, value)) = step? else { continue };
            if for_expr.grouping {
                groups.entry(name).or_default().push(value);
            } else if map.insert(name.clone(), value).is_some() {
                let label = if key_sensitive {
                    "a sensitive key is produced twice".to_owned()
                } else {
                    format!("the key `{name}` is produced twice")
                };
                return Err(Box::new(
                    Diagnostic::error("tenancy::expr::duplicate_key", "Duplicate object key")
                        .with_label(self.span(key_expr), label)
                        .with_help("Add `...` after the value expression to group values by key."),
                ));
            }
        }
        if for_expr.grouping {
            map = groups.into_iter().map(|(name, values)| (name, Value::list(values))).collect();
        }
        Ok(Value::map(map))
    }

    fn for_object_item(
        &mut self,
        for_expr: &ForExpr,
        key_expr: &Expression,
        sensitive_allowed: bool,
    ) -> Result<Option<(String, bool, Value)>, Box<Diagnostic>> {
        match self.for_condition(for_expr)? {
            Some(true) => {}
            Some(false) | None => return Ok(None),
        }
        let (name, key_sensitive) = self.object_key(key_expr, sensitive_allowed)?;
        let value = self.expr(&for_expr.value_expr)?;
        Ok(Some((name, key_sensitive, value)))
    }
}

/// Returns true when a value nests more than `limit` lists and maps,
/// looking no deeper than `limit` levels.
fn nesting_exceeds(value: &Value, limit: usize) -> bool {
    match value {
        Value::List(items) => limit == 0 || items.iter().any(|item| nesting_exceeds(item, limit - 1)),
        Value::Map(map) => limit == 0 || map.values().any(|item| nesting_exceeds(item, limit - 1)),
        Value::Sensitive(inner) => nesting_exceeds(inner, limit),
        _ => false,
    }
}

fn number_value(number: &hcl_edit::Number) -> Value {
    Value::Number(number.as_f64().unwrap_or(f64::NAN))
}

/// Returns the diagnostic for `env()` outside variable defaults and provider
/// blocks.
pub(crate) fn env_not_allowed(span: Span) -> Diagnostic {
    Diagnostic::error("tenancy::expr::env_not_allowed", "Environment read not allowed here")
        .with_label(span, "`env()` is only allowed in `variable` defaults and `provider` blocks")
        .with_help(
            "A plan must follow from the files alone. Declare a variable with the value as its \
             default, or set it with `TENANCY_VAR_NAME`, and use `var.NAME` here.",
        )
}

#[cfg(test)]
mod tests;
