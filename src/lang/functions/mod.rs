//! The standard function library of the configuration language.
//!
//! Every function is deterministic: there is no `uuid` or `timestamp`, and
//! `env()` is allowed only where the evaluator passes the environment in
//! (variable defaults and provider blocks). Marks follow one rule for all
//! functions except `length` and `keys`: when an argument contains an
//! unknown value the result is unknown, and when an argument contains a
//! sensitive value the whole result is sensitive. `length` and `keys` look
//! only at the structure and follow the marks of the argument itself. `try` and `can` evaluate their arguments lazily and live in
//! the evaluator.

mod collections;
mod encoding;
mod numeric;
mod strings;

use std::path::Path;

use tenancy_sdk::Value;

use crate::lang::eval::{to_string_form, type_label, with_mark};

/// The inputs a function may read besides its arguments.
pub(crate) struct FnContext<'a> {
    /// The configuration directory, for `file()`.
    pub dir: &'a Path,
    /// The process environment where `env()` is allowed.
    pub env: Option<&'a [(String, String)]>,
}

/// A function failure, pointing at one argument when it is that argument's
/// fault.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FnError {
    /// Zero-based index of the argument at fault.
    pub arg: Option<usize>,
    /// The problem, in a sentence fragment.
    pub message: String,
}

impl FnError {
    /// Returns an error about the call as a whole.
    pub(crate) fn new(message: impl Into<String>) -> FnError {
        FnError {
            arg: None,
            message: message.into(),
        }
    }

    /// Returns an error about one argument.
    pub(crate) fn arg(index: usize, message: impl Into<String>) -> FnError {
        FnError {
            arg: Some(index),
            message: message.into(),
        }
    }
}

/// The result of one function call.
pub(crate) type FnResult = Result<Value, FnError>;

type Implementation = fn(&[Value], &FnContext) -> FnResult;

/// One entry of the function table: name, minimum and maximum argument
/// count (`None` for variadic), and the implementation.
struct Function {
    name: &'static str,
    min: usize,
    max: Option<usize>,
    run: Implementation,
}

const fn function(name: &'static str, min: usize, max: Option<usize>, run: Implementation) -> Function {
    Function { name, min, max, run }
}

/// Functions that look only at the structure of their argument: their
/// result is known even when an element is unknown, and sensitive only when
/// the argument itself is.
const STRUCTURAL: &[&str] = &["length", "keys", "can", "try"];

const FUNCTIONS: &[Function] = &[
    function("abs", 1, Some(1), numeric::abs),
    function("base64decode", 1, Some(1), encoding::base64decode),
    function("base64encode", 1, Some(1), encoding::base64encode),
    function("base64sha256", 1, Some(1), encoding::base64sha256),
    function("can", 1, Some(1), unreachable_lazy),
    function("ceil", 1, Some(1), numeric::ceil),
    function("chomp", 1, Some(1), strings::chomp),
    function("coalesce", 1, None, collections::coalesce),
    function("coalescelist", 1, None, collections::coalescelist),
    function("compact", 1, Some(1), collections::compact),
    function("concat", 0, None, collections::concat),
    function("contains", 2, Some(2), collections::contains),
    function("distinct", 1, Some(1), collections::distinct),
    function("element", 2, Some(2), collections::element),
    function("endswith", 2, Some(2), strings::endswith),
    function("env", 1, Some(1), encoding::env),
    function("file", 1, Some(1), encoding::file),
    function("flatten", 1, Some(1), collections::flatten),
    function("floor", 1, Some(1), numeric::floor),
    function("format", 1, None, strings::format),
    function("formatlist", 1, None, strings::formatlist),
    function("index", 2, Some(2), collections::index),
    function("indent", 2, Some(2), strings::indent),
    function("join", 2, Some(2), strings::join),
    function("jsondecode", 1, Some(1), encoding::jsondecode),
    function("jsonencode", 1, Some(1), encoding::jsonencode),
    function("keys", 1, Some(1), collections::keys),
    function("length", 1, Some(1), collections::length),
    function("lookup", 2, Some(3), collections::lookup),
    function("lower", 1, Some(1), strings::lower),
    function("max", 1, None, numeric::max),
    function("merge", 0, None, collections::merge),
    function("min", 1, None, numeric::min),
    function("one", 1, Some(1), collections::one),
    function("parseint", 2, Some(2), numeric::parseint),
    function("pow", 2, Some(2), numeric::pow),
    function("range", 1, Some(3), collections::range),
    function("regex", 2, Some(2), strings::regex),
    function("regexall", 2, Some(2), strings::regexall),
    function("replace", 3, Some(3), strings::replace),
    function("reverse", 1, Some(1), collections::reverse),
    function("setintersection", 1, None, collections::setintersection),
    function("setsubtract", 2, Some(2), collections::setsubtract),
    function("setunion", 1, None, collections::setunion),
    function("sha256", 1, Some(1), encoding::sha256),
    function("signum", 1, Some(1), numeric::signum),
    function("slice", 3, Some(3), collections::slice),
    function("sort", 1, Some(1), collections::sort),
    function("split", 2, Some(2), strings::split),
    function("startswith", 2, Some(2), strings::startswith),
    function("substr", 3, Some(3), strings::substr),
    function("title", 1, Some(1), strings::title),
    function("tobool", 1, Some(1), encoding::tobool),
    function("tolist", 1, Some(1), collections::tolist),
    function("tomap", 1, Some(1), collections::tomap),
    function("tonumber", 1, Some(1), encoding::tonumber),
    function("toset", 1, Some(1), collections::toset),
    function("tostring", 1, Some(1), encoding::tostring),
    function("trim", 2, Some(2), strings::trim),
    function("trimprefix", 2, Some(2), strings::trimprefix),
    function("trimspace", 1, Some(1), strings::trimspace),
    function("trimsuffix", 2, Some(2), strings::trimsuffix),
    function("try", 1, None, unreachable_lazy),
    function("upper", 1, Some(1), strings::upper),
    function("urlencode", 1, Some(1), encoding::urlencode),
    function("values", 1, Some(1), collections::values),
    function("zipmap", 2, Some(2), collections::zipmap),
];

/// `try` and `can` take unevaluated arguments and are run by the evaluator;
/// this entry only makes them known names.
fn unreachable_lazy(_: &[Value], _: &FnContext) -> FnResult {
    Err(FnError::new("this function needs unevaluated arguments"))
}

/// Returns true when a function of that name exists.
pub(crate) fn exists(name: &str) -> bool {
    FUNCTIONS.iter().any(|function| function.name == name)
}

/// Returns every function name, for suggestions and documentation checks.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|function| function.name)
}

/// Calls a function with evaluated arguments, applying the mark rules.
pub(crate) fn call(name: &str, args: Vec<Value>, context: &FnContext) -> FnResult {
    let Some(function) = FUNCTIONS.iter().find(|function| function.name == name) else {
        return Err(FnError::new(format!("there is no function named `{name}`")));
    };
    check_arity(function, args.len())?;
    let structural = STRUCTURAL.contains(&name);
    let sensitive = if structural {
        args.iter().any(Value::is_sensitive)
    } else {
        args.iter().any(Value::contains_sensitive)
    };
    if !structural && args.iter().any(Value::contains_unknown) {
        return Ok(with_mark(Value::Unknown, sensitive));
    }
    let plain: Vec<Value> = args.iter().map(Value::strip_marks).collect();
    let result = (function.run)(&plain, context)?;
    Ok(with_mark(result, sensitive))
}

fn check_arity(function: &Function, count: usize) -> Result<(), FnError> {
    let expected = match function.max {
        Some(max) if max == function.min => format!("exactly {max}"),
        Some(max) => format!("{} to {max}", function.min),
        None => format!("at least {}", function.min),
    };
    let too_many = function.max.is_some_and(|max| count > max);
    if count < function.min || too_many {
        let noun = if expected == "exactly 1" { "argument" } else { "arguments" };
        return Err(FnError::new(format!("needs {expected} {noun}, found {count}")));
    }
    Ok(())
}

/// Returns argument `index` as a string; numbers and bools convert.
pub(crate) fn string_arg(args: &[Value], index: usize) -> Result<String, FnError> {
    let value = args.get(index).unwrap_or(&Value::Null);
    to_string_form(value).ok_or_else(|| {
        FnError::arg(index, format!("argument {} must be a string, found {}", index + 1, type_label(value)))
    })
}

/// Returns argument `index` as a number; numeric strings convert.
pub(crate) fn number_arg(args: &[Value], index: usize) -> Result<f64, FnError> {
    let value = args.get(index).unwrap_or(&Value::Null);
    crate::lang::eval::to_number(value).ok_or_else(|| {
        FnError::arg(index, format!("argument {} must be a number, found {}", index + 1, type_label(value)))
    })
}

/// Returns argument `index` as a whole number.
pub(crate) fn integer_arg(args: &[Value], index: usize) -> Result<i64, FnError> {
    let number = number_arg(args, index)?;
    if number.fract() != 0.0 || number.abs() > 9_007_199_254_740_992.0 {
        return Err(FnError::arg(index, format!("argument {} must be a whole number, found {number}", index + 1)));
    }
    Ok(number as i64)
}

/// Returns argument `index` as a list.
pub(crate) fn list_arg(args: &[Value], index: usize) -> Result<&[Value], FnError> {
    let value = args.get(index).unwrap_or(&Value::Null);
    value.as_list().ok_or_else(|| {
        FnError::arg(index, format!("argument {} must be a list, found {}", index + 1, type_label(value)))
    })
}

/// Returns argument `index` as a map.
pub(crate) fn map_arg(
    args: &[Value],
    index: usize,
) -> Result<&std::collections::BTreeMap<String, Value>, FnError> {
    let value = args.get(index).unwrap_or(&Value::Null);
    value.as_map().ok_or_else(|| {
        FnError::arg(index, format!("argument {} must be a map, found {}", index + 1, type_label(value)))
    })
}

#[cfg(test)]
mod tests;
