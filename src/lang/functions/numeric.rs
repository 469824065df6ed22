//! Numeric functions.

use tenancy_sdk::Value;

use super::{FnContext, FnError, FnResult, integer_arg, number_arg, string_arg};

fn finite(number: f64) -> FnResult {
    if number.is_finite() {
        Ok(Value::Number(number))
    } else {
        Err(FnError::new("the result is too large to represent"))
    }
}

pub(super) fn abs(args: &[Value], _: &FnContext) -> FnResult {
    finite(number_arg(args, 0)?.abs())
}

pub(super) fn ceil(args: &[Value], _: &FnContext) -> FnResult {
    finite(number_arg(args, 0)?.ceil())
}

pub(super) fn floor(args: &[Value], _: &FnContext) -> FnResult {
    finite(number_arg(args, 0)?.floor())
}

pub(super) fn signum(args: &[Value], _: &FnContext) -> FnResult {
    let number = number_arg(args, 0)?;
    finite(if number == 0.0 { 0.0 } else { number.signum() })
}

pub(super) fn pow(args: &[Value], _: &FnContext) -> FnResult {
    finite(number_arg(args, 0)?.powf(number_arg(args, 1)?))
}

fn numbers(args: &[Value]) -> Result<Vec<f64>, FnError> {
    (0..args.len()).map(|index| number_arg(args, index)).collect()
}

pub(super) fn min(args: &[Value], _: &FnContext) -> FnResult {
    finite(numbers(args)?.into_iter().fold(f64::INFINITY, f64::min))
}

pub(super) fn max(args: &[Value], _: &FnContext) -> FnResult {
    finite(numbers(args)?.into_iter().fold(f64::NEG_INFINITY, f64::max))
}

pub(super) fn parseint(args: &[Value], _: &FnContext) -> FnResult {
    let text = string_arg(args, 0)?;
    let base = integer_arg(args, 1)?;
    if !(2..=36).contains(&base) {
        return Err(FnError::arg(1, format!("the base must be between 2 and 36, found {base}")));
    }
    match i64::from_str_radix(&text, base as u32) {
        Ok(number) => Ok(Value::Number(number as f64)),
        Err(_) => Err(FnError::arg(0, format!("`{text}` is not a whole number in base {base}"))),
    }
}
