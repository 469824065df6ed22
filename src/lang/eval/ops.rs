//! Operators and value helpers shared by the evaluator and the functions:
//! mark handling, conversions to primitive types, equality and the unary
//! and binary operators.

use hcl_edit::expr::{BinaryOperator, UnaryOperator};
use tenancy_sdk::{Value, format_number};

/// Removes the sensitive mark at the top of a value and reports whether it
/// was there.
pub(crate) fn split_mark(value: Value) -> (Value, bool) {
    match value {
        Value::Sensitive(inner) => (split_mark(*inner).0, true),
        other => (other, false),
    }
}

/// Puts the sensitive mark back on a value when `sensitive` is true.
pub(crate) fn with_mark(value: Value, sensitive: bool) -> Value {
    if sensitive { Value::sensitive(value) } else { value }
}

/// Returns the name of a value's type as the language documents it.
pub(crate) fn type_label(value: &Value) -> &'static str {
    match value.unmarked() {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Map(_) => "object",
        Value::Unknown => "unknown value",
        Value::Sensitive(_) => "sensitive value",
    }
}

/// Converts a primitive value to its string form, as templates and
/// `tostring` do; collections and null have none.
pub(crate) fn to_string_form(value: &Value) -> Option<String> {
    match value.unmarked() {
        Value::String(text) => Some(text.to_string()),
        Value::Number(number) => Some(format_number(*number)),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Converts a number or a numeric string to a number.
pub(crate) fn to_number(value: &Value) -> Option<f64> {
    match value.unmarked() {
        Value::Number(number) => Some(*number),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|number| number.is_finite()),
        _ => None,
    }
}

/// Converts a bool or the strings `"true"` and `"false"` to a bool.
pub(crate) fn to_bool(value: &Value) -> Option<bool> {
    match value.unmarked() {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text == "true" => Some(true),
        Value::String(text) if text == "false" => Some(false),
        _ => None,
    }
}

/// Compares two values for equality, ignoring sensitive marks.
pub(crate) fn values_equal(left: &Value, right: &Value) -> bool {
    match (left.unmarked(), right.unmarked()) {
        (Value::List(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_equal(x, y))
        }
        (Value::Map(a), Value::Map(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((key_a, x), (key_b, y))| key_a == key_b && values_equal(x, y))
        }
        (a, b) => a == b,
    }
}

/// Applies a unary operator to a value without marks.
pub(crate) fn unary(operator: UnaryOperator, operand: &Value) -> Result<Value, String> {
    match operator {
        UnaryOperator::Neg => to_number(operand)
            .map(|number| Value::Number(-number))
            .ok_or_else(|| format!("`-` needs a number, found {}", type_label(operand))),
        UnaryOperator::Not => to_bool(operand)
            .map(|flag| Value::Bool(!flag))
            .ok_or_else(|| format!("`!` needs a bool, found {}", type_label(operand))),
    }
}

/// Applies a binary operator to two values without marks.
pub(crate) fn binary(operator: BinaryOperator, left: &Value, right: &Value) -> Result<Value, String> {
    use BinaryOperator as Op;
    match operator {
        Op::Eq => Ok(Value::Bool(values_equal(left, right))),
        Op::NotEq => Ok(Value::Bool(!values_equal(left, right))),
        Op::And | Op::Or => {
            let (Some(a), Some(b)) = (to_bool(left), to_bool(right)) else {
                return Err(operand_error(operator, "bools", left, right));
            };
            Ok(Value::Bool(if operator == Op::And { a && b } else { a || b }))
        }
        _ => {
            let (Some(a), Some(b)) = (to_number(left), to_number(right)) else {
                return Err(operand_error(operator, "numbers", left, right));
            };
            arithmetic(operator, a, b)
        }
    }
}

fn arithmetic(operator: BinaryOperator, a: f64, b: f64) -> Result<Value, String> {
    use BinaryOperator as Op;
    let result = match operator {
        Op::Less => return Ok(Value::Bool(a < b)),
        Op::LessEq => return Ok(Value::Bool(a <= b)),
        Op::Greater => return Ok(Value::Bool(a > b)),
        Op::GreaterEq => return Ok(Value::Bool(a >= b)),
        Op::Plus => a + b,
        Op::Minus => a - b,
        Op::Mul => a * b,
        Op::Div if b == 0.0 => return Err("division by zero".to_owned()),
        Op::Div => a / b,
        Op::Mod if b == 0.0 => return Err("modulo by zero".to_owned()),
        Op::Mod => a % b,
        _ => return Err(format!("`{}` is not an arithmetic operator", operator.as_str())),
    };
    if result.is_finite() {
        Ok(Value::Number(result))
    } else {
        Err("the result is too large to represent".to_owned())
    }
}

fn operand_error(operator: BinaryOperator, wanted: &str, left: &Value, right: &Value) -> String {
    format!(
        "`{}` needs two {wanted}, found {} and {}",
        operator.as_str(),
        type_label(left),
        type_label(right)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_accepts_numeric_strings() {
        let sum = binary(BinaryOperator::Plus, &Value::string("2"), &Value::Number(3.0));
        assert_eq!(sum, Ok(Value::Number(5.0)));
    }

    #[test]
    fn division_by_zero_is_error() {
        let result = binary(BinaryOperator::Div, &Value::Number(1.0), &Value::Number(0.0));
        assert_eq!(result, Err("division by zero".to_owned()));
    }

    #[test]
    fn equality_ignores_marks() {
        let secret = Value::sensitive(Value::string("a"));
        assert!(values_equal(&secret, &Value::string("a")));
    }

    #[test]
    fn and_rejects_numbers() {
        let result = binary(BinaryOperator::And, &Value::Number(1.0), &Value::Bool(true));
        assert!(result.unwrap_err().contains("needs two bools"));
    }
}
