//! Input variables: declarations, values from the command line, variable
//! files and the environment, type conversion and `validation` rules.
//!
//! Values are taken in this order, a later source replacing an earlier one:
//! the `default`, `TENANCY_VAR_NAME` environment variables, `-var-file`
//! files in the order given, and `-var NAME=VALUE` flags in the order given.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl_edit::structure::{Attribute, Block};
use tenancy_sdk::Value;

use crate::config::Variable;
use crate::lang::decode::{block_span, decode_body, expect_labels, header_span};
use crate::lang::diagnostic::{Diagnostic, Diagnostics, Label};
use crate::lang::eval::refs::references;
use crate::lang::eval::{Context, to_bool};
use crate::lang::loader::syntax_diagnostic;
use crate::lang::schema::{VALIDATION, VARIABLE};
use crate::lang::source::{SourceMap, Span};
use crate::lang::suggest::did_you_mean;
use crate::lang::types::{TypeConstraint, convert, parse_type};

/// Prefix of environment variables that set input variables.
pub const ENV_PREFIX: &str = "TENANCY_VAR_";

/// Values for input variables from outside the configuration.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `-var NAME=VALUE` flags, in the order given.
    pub vars: Vec<(String, String)>,
    /// `-var-file FILE` flags, in the order given.
    pub var_files: Vec<PathBuf>,
    /// The process environment; the loader reads `TENANCY_VAR_*` from it,
    /// and `env()` reads it inside variable defaults and provider blocks.
    pub env: Vec<(String, String)>,
}

impl VarInputs {
    /// Returns inputs with the given flags and the current process
    /// environment (variables whose name or value is not Unicode are left
    /// out).
    pub fn from_env(vars: Vec<(String, String)>, var_files: Vec<PathBuf>) -> VarInputs {
        let env = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        VarInputs { vars, var_files, env }
    }
}

/// A `variable` block after decoding, before its value is known.
struct Declaration<'b> {
    name: String,
    file: usize,
    block: &'b Block,
    constraint: TypeConstraint,
    typed_as_string: bool,
    default: Option<(Value, Span)>,
    description: Option<String>,
    sensitive: bool,
    nullable: bool,
    validations: Vec<(usize, &'b Attribute, &'b Attribute)>,
}

const CONSTANT_ONLY: &str = "Values here must be constants; `var` and `local` are not available.";

/// The input variables of a configuration after [`resolve`].
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// The variables whose value is known, by name.
    pub values: BTreeMap<String, Variable>,
    /// The declared variables without a value, because their declaration,
    /// input, conversion or validation failed with a reported error.
    pub failed: BTreeSet<String>,
}

/// Decodes `variable` blocks and resolves their final values.
pub(crate) fn resolve(
    blocks: &[(usize, &Block)],
    dir: &Path,
    inputs: &VarInputs,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) -> Resolved {
    let mut declarations: Vec<Declaration> = Vec::new();
    let mut declared = BTreeSet::new();
    for &(file, block) in blocks {
        let Some(labels) = expect_labels(file, block, &["NAME"], diagnostics) else { continue };
        let name = labels[0].clone();
        declared.insert(name.clone());
        if let Some(first) = declarations.iter().find(|declared| declared.name == name) {
            diagnostics.push(duplicate(file, block, first.file, first.block, "variable", &name));
            continue;
        }
        if let Some(declaration) = declare(file, block, name, dir, inputs, diagnostics) {
            declarations.push(declaration);
        }
    }
    let given = given_values(&declarations, dir, inputs, sources, diagnostics);
    let mut values = BTreeMap::new();
    for declaration in &declarations {
        let given_value = match given.get(&declaration.name) {
            Some(Some(value)) => Some(value),
            // The input failed with a reported error: falling back to the
            // default or reporting a missing value would mislead.
            Some(None) => continue,
            None => None,
        };
        if let Some(variable) = finish(declaration, given_value, dir, diagnostics) {
            values.insert(declaration.name.clone(), variable);
        }
    }
    let failed = declared.into_iter().filter(|name| !values.contains_key(name)).collect();
    Resolved { values, failed }
}

/// Returns the diagnostic for a second block with the same name.
pub(crate) fn duplicate(file: usize, block: &Block, first_file: usize, first: &Block, kind: &str, name: &str) -> Diagnostic {
    duplicate_at(file, block, header_span(first_file, first), kind, name)
}

/// Returns the diagnostic for a block whose name the block at `first` took.
pub(crate) fn duplicate_at(file: usize, block: &Block, first: Span, kind: &str, name: &str) -> Diagnostic {
    Diagnostic::error(format!("tenancy::config::duplicate_{kind}"), "Duplicate block name")
        .with_label(header_span(file, block), format!("{kind} `{name}` is declared again here"))
        .with_label(first, "first declared here")
        .with_help(format!("Rename or remove one of the two `{kind}` blocks."))
}

fn constant_context(file: usize, dir: &Path) -> Context<'_> {
    let mut context = Context::new(file, dir);
    context.forbid("var", CONSTANT_ONLY);
    context.forbid("local", CONSTANT_ONLY);
    context
}

fn declare<'b>(
    file: usize,
    block: &'b Block,
    name: String,
    dir: &Path,
    inputs: &VarInputs,
    diagnostics: &mut Diagnostics,
) -> Option<Declaration<'b>> {
    let context = constant_context(file, dir);
    let values = decode_body(block, &VARIABLE, &context, diagnostics);
    let constraint = match values.specials.get("type") {
        Some(attr) => type_constraint(&context, attr, diagnostics),
        None => Some(TypeConstraint::Any),
    };
    let default = match values.specials.get("default") {
        Some(attr) => {
            let mut default_context = constant_context(file, dir);
            default_context.env = Some(&inputs.env);
            match default_context.eval(&attr.value) {
                Ok(value) => Some(Some((value, context.span_of(&attr.value)))),
                Err(diagnostic) => {
                    diagnostics.push(*diagnostic);
                    None
                }
            }
        }
        None => Some(None),
    };
    let validations = validations(file, &values.blocks, &context, diagnostics);
    let (Some(constraint), Some(default), false) = (constraint, default, values.failed) else {
        return None;
    };

    let flag = |key: &str, fallback: bool| values.attrs.get(key).and_then(Value::as_bool).unwrap_or(fallback);
    Some(Declaration {
        name,
        file,
        block,
        typed_as_string: !values.specials.contains_key("type") || constraint == TypeConstraint::String,
        constraint,
        default,
        description: values.attrs.get("description").and_then(Value::as_str).map(str::to_owned),
        sensitive: flag("sensitive", false),
        nullable: flag("nullable", true),
        validations,
    })
}

fn type_constraint(context: &Context, attr: &Attribute, diagnostics: &mut Diagnostics) -> Option<TypeConstraint> {
    match parse_type(&attr.value) {
        Ok(constraint) => Some(constraint),
        Err(message) => {
            diagnostics.push(
                Diagnostic::error("tenancy::config::invalid_type", "Invalid type constraint")
                    .with_label(context.span_of(&attr.value), message),
            );
            None
        }
    }
}

fn validations<'b>(
    file: usize,
    blocks: &[&'b Block],
    context: &Context,
    diagnostics: &mut Diagnostics,
) -> Vec<(usize, &'b Attribute, &'b Attribute)> {
    let mut validations = Vec::new();
    for nested in blocks {
        if expect_labels(file, nested, &[], diagnostics).is_none() {
            continue;
        }
        let checked = decode_body(nested, &VALIDATION, context, diagnostics);
        let condition = checked.specials.get("condition");
        let message = nested.body.get_attribute("error_message");
        if let (Some(condition), Some(message)) = (condition, message) {
            validations.push((file, *condition, message));
        }
    }
    validations
}

/// Values given for variables, by name; `None` for an input that failed with
/// a reported error.
type Given = BTreeMap<String, Option<(Value, Span)>>;

/// Collects values from the environment, variable files and `-var` flags.
fn given_values(
    declarations: &[Declaration],
    dir: &Path,
    inputs: &VarInputs,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) -> Given {
    let mut given = BTreeMap::new();
    for (key, text) in &inputs.env {
        let Some(name) = key.strip_prefix(ENV_PREFIX) else { continue };
        let Some(declaration) = declarations.iter().find(|declared| declared.name == name) else { continue };
        let file = sources.add(PathBuf::from(format!("<environment {key}>")), text.as_str());
        let input = Input { file, example: &|value| format!("{key}='{value}'") };
        let value = raw_value(declaration, &input, sources, dir, diagnostics);
        given.insert(name.to_owned(), value);
    }
    for path in &inputs.var_files {
        read_var_file(path, declarations, dir, sources, diagnostics, &mut given);
    }
    for (name, text) in &inputs.vars {
        let file = sources.add(PathBuf::from(format!("<-var {name}>")), text.as_str());
        let Some(declaration) = declarations.iter().find(|declared| &declared.name == name) else {
            let diagnostic = Diagnostic::error("tenancy::config::undeclared_variable", "Value for undeclared variable")
                .with_label(Span::new(file, 0..text.len()), format!("no variable named `{name}` is declared"));
            let hint = did_you_mean(name, declarations.iter().map(|declared| declared.name.as_str()));
            diagnostics.push(match hint {
                Some(hint) => diagnostic.with_help(hint),
                None => diagnostic.with_help(format!("Declare it with `variable \"{name}\" {{}}` or remove the `-var` flag.")),
            });
            continue;
        };
        let input = Input { file, example: &|value| format!("-var '{name}={value}'") };
        let value = raw_value(declaration, &input, sources, dir, diagnostics);
        given.insert(name.clone(), value);
    }
    given
}

/// A value given as text on the command line or in the environment.
struct Input<'e> {
    /// The source map entry that holds the text.
    file: usize,
    /// Returns how the user gives a value, such as `-var 'seats=3'`.
    example: &'e dyn Fn(&str) -> String,
}

/// Reads a value given as text: taken literally for string variables, and
/// parsed as an expression otherwise.
fn raw_value(
    declaration: &Declaration,
    input: &Input,
    sources: &SourceMap,
    dir: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<(Value, Span)> {
    let file = input.file;
    let text: &str = &sources.files[file].text;
    let span = Span::new(file, 0..text.len());
    if declaration.typed_as_string {
        return Some((Value::string(text), span));
    }

    // A parse error or a bare word such as `abc` most often means a string
    // without quotes, so both get one message with the declared type instead
    // of a syntax or reference error.
    let expr = match hcl_edit::parser::parse_expr(text) {
        Ok(expr) => expr,
        Err(error) => {
            let detail = syntax_diagnostic(file, text, &error).labels.into_iter().next();
            diagnostics.push(invalid_input(declaration, input, span, text, detail));
            return None;
        }
    };
    if !references(&expr).is_empty() {
        diagnostics.push(invalid_input(declaration, input, span, text, None));
        return None;
    }
    match constant_context(file, dir).eval(&expr) {
        Ok(value) => Some((value, span)),
        // The error's snippet would show the input text.
        Err(_) if declaration.sensitive => {
            diagnostics.push(invalid_input(declaration, input, span, text, None));
            None
        }
        Err(diagnostic) => {
            diagnostics.push(*diagnostic);
            None
        }
    }
}

/// Returns the diagnostic for input text that is not an expression of the
/// variable's type, with an example of a valid input.
fn invalid_input(declaration: &Declaration, input: &Input, span: Span, text: &str, detail: Option<Label>) -> Diagnostic {
    let name = &declaration.name;
    let constraint = &declaration.constraint;
    let header = header_span(declaration.file, declaration.block);
    let help = match constraint {
        TypeConstraint::Number => format!("`{name}` takes a number, such as `{}`.", (input.example)("3")),
        TypeConstraint::Bool => format!("`{name}` takes `true` or `false`, such as `{}`.", (input.example)("true")),
        _ => format!(
            "A value of type {constraint} is read as an HCL expression, so strings inside it need double \
             quotes, such as `{}`. Only a variable of type `string` takes its value as plain text.",
            (input.example)("[\"eu\", \"us\"]")
        ),
    };
    let diagnostic = Diagnostic::error("tenancy::config::invalid_variable_value", "Invalid value for variable");
    let diagnostic = if declaration.sensitive {
        diagnostic.with_label(header, format!("the value given for the sensitive `{name}` is not of type {constraint}"))
    } else {
        let diagnostic = diagnostic
            .with_label(span, format!("`{text}` is not a value of type {constraint}"))
            .with_label(header, format!("`{name}` is declared with type {constraint}"));
        match detail {
            Some(label) => diagnostic.with_label(label.span, label.text),
            None => diagnostic,
        }
    };
    diagnostic.with_help(help)
}

fn read_var_file(
    path: &Path,
    declarations: &[Declaration],
    dir: &Path,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
    given: &mut Given,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            diagnostics.push(
                Diagnostic::error("tenancy::config::var_file_unreadable", "Variable file not readable")
                    .with_help(format!("Failed to read `{}`: {error}. Check the `-var-file` path.", path.display())),
            );
            return;
        }
    };
    let file = sources.add(path.to_path_buf(), text);
    let body = match crate::lang::loader::parse_file(sources, file) {
        Ok(body) => body,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return;
        }
    };
    let context = constant_context(file, dir);
    for structure in body.iter() {
        let Some(attr) = structure.as_attribute() else {
            let span = structure.as_block().map(|block| header_span(file, block));
            diagnostics.push(
                Diagnostic::error("tenancy::config::var_file_block", "Block in variable file")
                    .with_optional_label(span, "a variable file holds only `NAME = VALUE` lines"),
            );
            continue;
        };
        let name = attr.key.as_str();
        if !declarations.iter().any(|declared| declared.name == name) {
            diagnostics.push(
                Diagnostic::warning("tenancy::config::undeclared_variable", "Value for undeclared variable")
                    .with_label(context.span_of(&attr.key), format!("no variable named `{name}` is declared"))
                    .with_help("The value is ignored. Remove it or declare the variable."),
            );
            continue;
        }
        match context.eval(&attr.value) {
            Ok(value) => {
                given.insert(name.to_owned(), Some((value, context.span_of(&attr.value))));
            }
            Err(diagnostic) => {
                let sensitive = declarations.iter().any(|declared| declared.name == name && declared.sensitive);
                if sensitive {
                    diagnostics.push(sensitive_var_file_error(declarations, name, path));
                } else {
                    diagnostics.push(*diagnostic);
                }
                given.insert(name.to_owned(), None);
            }
        }
    }
}

/// Picks, converts and validates the final value of one variable.
fn finish(
    declaration: &Declaration,
    given: Option<&(Value, Span)>,
    dir: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<Variable> {
    let header = header_span(declaration.file, declaration.block);
    let name = &declaration.name;
    let Some((value, origin)) = given.or(declaration.default.as_ref()) else {
        diagnostics.push(
            Diagnostic::error("tenancy::config::missing_variable", "No value for required variable")
                .with_label(header, format!("`{name}` has no default and no value was given"))
                .with_help(format!(
                    "Set it with `-var {name}=VALUE`, in a `-var-file`, or with the environment variable `{ENV_PREFIX}{name}`."
                )),
        );
        return None;
    };
    if value.is_null() && !declaration.nullable {
        diagnostics.push(
            Diagnostic::error("tenancy::config::null_variable", "Null value for non-nullable variable")
                .with_label(value_span(declaration, origin), format!("`{name}` is declared with `nullable = false`"))
                .with_help("Give the variable a value other than `null`."),
        );
        return None;
    }
    let converted = match convert(value.clone(), &declaration.constraint) {
        Ok(converted) => converted,
        Err(_) if declaration.sensitive => {
            // A conversion message can quote the value or its keys.
            let constraint = &declaration.constraint;
            let label = format!("the value given for the sensitive `{name}` is not of type {constraint}");
            diagnostics.push(
                Diagnostic::error("tenancy::config::invalid_variable_value", "Invalid value for variable")
                    .with_label(header, label)
                    .with_help(format!(
                        "Give `{name}` a value of type {constraint}. The details are hidden because they could \
                         contain the value."
                    )),
            );
            return None;
        }
        Err(message) => {
            diagnostics.push(
                Diagnostic::error("tenancy::config::invalid_variable_value", "Invalid value for variable")
                    .with_label(origin.clone(), format!("`{name}`: {message}"))
                    .with_label(header, format!("declared with type {}", declaration.constraint)),
            );
            return None;
        }
    };
    let value = if declaration.sensitive { Value::sensitive(converted) } else { converted };
    if !validate(declaration, &value, origin, dir, diagnostics) {
        return None;
    }
    Some(Variable {
        name: name.clone(),
        value,
        sensitive: declaration.sensitive,
        description: declaration.description.clone(),
        span: block_span(declaration.file, declaration.block),
    })
}

/// Returns where a diagnostic about a variable's value points: the value, or
/// for a sensitive variable its declaration, because a source snippet of the
/// value would show it.
fn value_span(declaration: &Declaration, origin: &Span) -> Span {
    if declaration.sensitive { header_span(declaration.file, declaration.block) } else { origin.clone() }
}

/// Returns the diagnostic for a sensitive variable's value in a variable file
/// that failed to evaluate, without the evaluation error, whose snippet would
/// show the value.
fn sensitive_var_file_error(declarations: &[Declaration], name: &str, path: &Path) -> Diagnostic {
    let header = declarations
        .iter()
        .find(|declared| declared.name == name)
        .map(|declared| header_span(declared.file, declared.block));
    let label = format!("the value of the sensitive `{name}` in `{}` is not valid", path.display());
    Diagnostic::error("tenancy::config::invalid_variable_value", "Invalid value for variable")
        .with_optional_label(header, label)
        .with_help(format!(
            "Fix the expression for `{name}` in the variable file. The details are hidden because they could \
             contain the value."
        ))
}

/// Runs the `validation` rules of a variable; returns false when one fails.
fn validate(declaration: &Declaration, value: &Value, origin: &Span, dir: &Path, diagnostics: &mut Diagnostics) -> bool {
    let mut valid = true;
    let scope = Value::map(BTreeMap::from([(declaration.name.clone(), value.clone())]));
    for &(file, condition, message) in &declaration.validations {
        let mut context = Context::new(file, dir);
        context.bind("var", Cow::Borrowed(&scope));
        context.forbid("local", "A validation rule can refer only to the variable it checks.");
        let result = match context.eval(&condition.value) {
            Ok(result) => result,
            Err(diagnostic) => {
                diagnostics.push(*diagnostic);
                valid = false;
                continue;
            }
        };
        if result.is_unknown() {
            continue;
        }
        let Some(passed) = to_bool(&result) else {
            diagnostics.push(
                Diagnostic::error("tenancy::config::invalid_condition", "Invalid validation condition")
                    .with_label(context.span_of(&condition.value), "the condition must return a bool"),
            );
            valid = false;
            continue;
        };
        if !passed {
            let text = match context.eval(&message.value) {
                Ok(text) if text.contains_sensitive() => "(the error message uses a sensitive value)".to_owned(),
                Ok(text) => text.as_str().unwrap_or("the value is not valid").to_owned(),
                Err(_) => "the value is not valid".to_owned(),
            };
            diagnostics.push(
                Diagnostic::error("tenancy::config::validation_failed", "Variable validation failed")
                    .with_label(value_span(declaration, origin), text)
                    .with_label(context.span_of(&condition.value), "this condition is false")
                    .with_help(format!("Give `{}` a value that meets its validation rule.", declaration.name)),
            );
            valid = false;
        }
    }
    valid
}
