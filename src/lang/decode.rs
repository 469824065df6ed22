//! Schema-driven decoding of one block body: unknown attributes and blocks,
//! evaluation, type and value checks, defaults and required attributes.

use std::collections::BTreeMap;

use hcl_edit::Span as _;
use hcl_edit::structure::{Attribute, Block, Body, Structure};
use tenancy_sdk::{Attrs, Name, Value};

use crate::lang::diagnostic::{Diagnostic, Diagnostics};
use crate::lang::eval::Context;
use crate::lang::schema::{BlockSpec, Kind};
use crate::lang::source::Span;
use crate::lang::suggest::did_you_mean;

/// A decoded block body.
#[derive(Debug, Default)]
pub(crate) struct BodyValues<'b> {
    /// Evaluated and checked attributes, with defaults applied.
    pub attrs: Attrs,
    /// Attributes of kind [`Kind::Special`], unevaluated.
    pub specials: BTreeMap<&'static str, &'b Attribute>,
    /// Nested blocks the spec accepts, in file order.
    pub blocks: Vec<&'b Block>,
    /// Whether any attribute failed, so callers can skip follow-up checks.
    pub failed: bool,
    /// Attributes in file order, sorted into `attrs` once the body is read,
    /// because inserting into sorted attributes one by one is quadratic.
    read: Vec<(Name, Value)>,
}

/// Returns the span of a block's header: its type and labels.
pub(crate) fn header_span(file: usize, block: &Block) -> Span {
    let start = block.ident.span().map_or(0, |range| range.start);
    let end = block
        .labels
        .last()
        .and_then(|label| label.span())
        .or_else(|| block.ident.span())
        .map_or(start, |range| range.end);
    Span::new(file, start..end.max(start))
}

/// Returns the span of a whole block.
pub(crate) fn block_span(file: usize, block: &Block) -> Span {
    Span::new(file, block.span().unwrap_or_else(|| header_span(file, block).range))
}

/// Decodes a body against a spec, evaluating attributes in `context` and
/// pushing every problem to `diagnostics`.
pub(crate) fn decode_body<'b>(
    block: &'b Block,
    spec: &BlockSpec,
    context: &Context,
    diagnostics: &mut Diagnostics,
) -> BodyValues<'b> {
    let mut values = BodyValues::default();
    let file = context.file;
    for structure in block.body.iter() {
        match structure {
            Structure::Attribute(attr) => decode_attr(attr, spec, context, &mut values, diagnostics),
            Structure::Block(nested) => {
                if spec.blocks.contains(&nested.ident.as_str()) {
                    values.blocks.push(nested);
                } else {
                    diagnostics.push(unknown_block(file, nested, spec));
                    values.failed = true;
                }
            }
        }
    }
    values.attrs = std::mem::take(&mut values.read).into_iter().collect();
    for attr in spec.attrs {
        let present = values.attrs.contains_key(attr.name) || values.specials.contains_key(attr.name);
        if present || has_attribute(&block.body, attr.name) {
            continue;
        }
        if attr.required {
            diagnostics.push(
                Diagnostic::error("tenancy::config::missing_attribute", "Missing required attribute")
                    .with_label(header_span(file, block), format!("`{}` needs the attribute `{}`", spec.name, attr.name))
                    .with_help(format!("Add `{} = …` to the block.", attr.name)),
            );
            values.failed = true;
        } else if let Some(default) = attr.default.value() {
            values.attrs.insert(attr.name.to_owned(), default);
        }
    }
    values
}

fn has_attribute(body: &Body, name: &str) -> bool {
    body.get_attribute(name).is_some()
}

fn decode_attr<'b>(
    attr: &'b Attribute,
    spec: &BlockSpec,
    context: &Context,
    values: &mut BodyValues<'b>,
    diagnostics: &mut Diagnostics,
) {
    let name = attr.key.as_str();
    let kind = match spec.attr(name) {
        Some(attr_spec) => attr_spec.kind,
        None if spec.open => Kind::Any,
        None => {
            diagnostics.push(unknown_attribute(context.file, attr, spec));
            values.failed = true;
            return;
        }
    };
    if let (Kind::Special, Some(attr_spec)) = (kind, spec.attr(name)) {
        values.specials.insert(attr_spec.name, attr);
        return;
    }
    let value = match context.eval(&attr.value) {
        Ok(value) => value,
        Err(diagnostic) => {
            diagnostics.push(*diagnostic);
            values.failed = true;
            return;
        }
    };
    match check_value(context, attr, kind, value) {
        Ok(value) => {
            values.read.push((Name::new(name), value));
        }
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            values.failed = true;
        }
    }
}

/// Checks an evaluated attribute value against a kind, returning the
/// normalized value or a diagnostic on the attribute's expression.
pub(crate) fn check_value(context: &Context, attr: &Attribute, kind: Kind, value: Value) -> Result<Value, Diagnostic> {
    kind.check(value).map_err(|problem| {
        let (code, summary) = if problem.wrong_type {
            ("tenancy::config::wrong_type", "Wrong attribute type")
        } else {
            ("tenancy::config::invalid_value", "Invalid attribute value")
        };
        let diagnostic = Diagnostic::error(code, summary)
            .with_label(context.span_of(&attr.value), format!("`{}`: {}", attr.key.as_str(), problem.message));
        match problem.help {
            Some(help) => diagnostic.with_help(help),
            None => diagnostic,
        }
    })
}

fn unknown_attribute(file: usize, attr: &Attribute, spec: &BlockSpec) -> Diagnostic {
    let name = attr.key.as_str();
    let span = Span::new(file, attr.key.span().unwrap_or(0..0));
    if spec.blocks.contains(&name) {
        return Diagnostic::error("tenancy::config::block_as_attribute", "Block written as an attribute")
            .with_label(span, format!("`{name}` is a block in `{}`", spec.name))
            .with_help(format!("Write `{name} {{ … }}` without `=`."));
    }
    let diagnostic = Diagnostic::error("tenancy::config::unknown_attribute", "Unknown attribute")
        .with_label(span, format!("`{name}` is not an attribute of `{}`", spec.name));
    match did_you_mean(name, spec.attrs.iter().map(|attr| attr.name)) {
        Some(hint) => diagnostic.with_help(hint),
        None => diagnostic.with_help(format!("`{}` accepts: {}.", spec.name, list_names(spec.attrs.iter().map(|attr| attr.name)))),
    }
}

fn unknown_block(file: usize, block: &Block, spec: &BlockSpec) -> Diagnostic {
    let name = block.ident.as_str();
    let span = Span::new(file, block.ident.span().unwrap_or(0..0));
    if spec.attr(name).is_some() {
        return Diagnostic::error("tenancy::config::attribute_as_block", "Attribute written as a block")
            .with_label(span, format!("`{name}` is an attribute in `{}`", spec.name))
            .with_help(format!("Write `{name} = …`."));
    }
    let diagnostic = Diagnostic::error("tenancy::config::unknown_block", "Unknown block")
        .with_label(span, format!("`{name}` is not a block of `{}`", spec.name));
    match did_you_mean(name, spec.blocks.iter().copied()) {
        Some(hint) => diagnostic.with_help(hint),
        None if spec.blocks.is_empty() => diagnostic.with_help(format!("`{}` takes no nested blocks.", spec.name)),
        None => diagnostic.with_help(format!("`{}` accepts the blocks: {}.", spec.name, list_names(spec.blocks.iter().copied()))),
    }
}

/// Joins names as "`a`, `b`, `c`".
pub(crate) fn list_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// Checks that a block has exactly the labels its type needs, returning
/// them as strings.
pub(crate) fn expect_labels(
    file: usize,
    block: &Block,
    names: &[&str],
    diagnostics: &mut Diagnostics,
) -> Option<Vec<String>> {
    let kind = block.ident.as_str();
    if block.labels.len() == names.len() {
        let mut valid = true;
        for (index, label) in block.labels.iter().enumerate() {
            let label = label.as_str();
            if tenancy_sdk::is_identifier(label) {
                continue;
            }
            valid = false;
            diagnostics.push(
                Diagnostic::error("tenancy::config::invalid_label", "Invalid block label")
                    .with_label(label_span(file, block, index), format!("`{label}` is not a valid name"))
                    .with_help(format!(
                        "A label names the block in addresses such as `{kind}.NAME`, so it must start with a \
                         letter or underscore and contain only letters, digits, underscores and dashes. \
                         Write `\"{}\"`.",
                        identifier_like(label)
                    )),
            );
        }
        return valid.then(|| block.labels.iter().map(|label| label.as_str().to_owned()).collect());
    }
    let usage = if names.is_empty() {
        format!("`{kind}` takes no labels")
    } else {
        let placeholders: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
        format!("write `{kind} {} {{ … }}`", placeholders.join(" "))
    };
    diagnostics.push(
        Diagnostic::error("tenancy::config::wrong_label_count", "Wrong number of block labels")
            .with_label(
                header_span(file, block),
                format!("found {} labels, expected {}", block.labels.len(), names.len()),
            )
            .with_help(format!("{}{}.", usage[..1].to_uppercase(), &usage[1..])),
    );
    None
}

/// Returns `name` with every character that an identifier cannot carry
/// replaced by an underscore, for help texts.
fn identifier_like(name: &str) -> String {
    let mut replaced: String = name
        .chars()
        .map(|character| if character.is_ascii_alphanumeric() || character == '-' { character } else { '_' })
        .collect();
    if !replaced.starts_with(|first: char| first.is_ascii_alphabetic() || first == '_') {
        replaced.insert(0, '_');
    }
    replaced
}

/// Returns a block's label span (the first label, or the header).
pub(crate) fn label_span(file: usize, block: &Block, index: usize) -> Span {
    match block.labels.get(index).and_then(|label| label.span()) {
        Some(range) => Span::new(file, range),
        None => header_span(file, block),
    }
}
