//! Type constraints of `variable` blocks and conversion of values to them.

use std::collections::BTreeMap;
use std::fmt;

use hcl_edit::expr::{Expression, ObjectKey};
use tenancy_sdk::Value;

use crate::lang::eval::{split_mark, to_bool, to_number, to_string_form, type_label, with_mark};

/// A type constraint such as `string` or `map(list(number))`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TypeConstraint {
    /// Any value.
    Any,
    /// A string; numbers and bools convert.
    String,
    /// A number; numeric strings convert.
    Number,
    /// A bool; `"true"` and `"false"` convert.
    Bool,
    /// A list whose elements convert to the inner type.
    List(Box<TypeConstraint>),
    /// A list without duplicates.
    Set(Box<TypeConstraint>),
    /// A map whose values convert to the inner type.
    Map(Box<TypeConstraint>),
    /// An object with named attributes; `optional(...)` ones may be absent.
    Object(Vec<(String, TypeConstraint, bool)>),
    /// A list with one type per position.
    Tuple(Vec<TypeConstraint>),
}

impl fmt::Display for TypeConstraint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeConstraint::Any => formatter.write_str("any"),
            TypeConstraint::String => formatter.write_str("string"),
            TypeConstraint::Number => formatter.write_str("number"),
            TypeConstraint::Bool => formatter.write_str("bool"),
            TypeConstraint::List(inner) => write!(formatter, "list({inner})"),
            TypeConstraint::Set(inner) => write!(formatter, "set({inner})"),
            TypeConstraint::Map(inner) => write!(formatter, "map({inner})"),
            TypeConstraint::Object(attrs) => {
                formatter.write_str("object({")?;
                for (index, (name, inner, optional)) in attrs.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    if *optional {
                        write!(formatter, "{separator}{name} = optional({inner})")?;
                    } else {
                        write!(formatter, "{separator}{name} = {inner}")?;
                    }
                }
                formatter.write_str("})")
            }
            TypeConstraint::Tuple(items) => {
                formatter.write_str("tuple([")?;
                for (index, inner) in items.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    write!(formatter, "{separator}{inner}")?;
                }
                formatter.write_str("])")
            }
        }
    }
}

const TYPE_HELP: &str = "a type is string, number, bool, any, list(T), set(T), map(T), object({...}) or tuple([...])";

/// Parses a type constraint written as an expression, such as `list(string)`.
pub(crate) fn parse_type(expr: &Expression) -> Result<TypeConstraint, String> {
    match expr {
        Expression::Variable(name) => match name.as_str() {
            "string" => Ok(TypeConstraint::String),
            "number" => Ok(TypeConstraint::Number),
            "bool" => Ok(TypeConstraint::Bool),
            "any" => Ok(TypeConstraint::Any),
            "list" => Ok(TypeConstraint::List(Box::new(TypeConstraint::Any))),
            "set" => Ok(TypeConstraint::Set(Box::new(TypeConstraint::Any))),
            "map" => Ok(TypeConstraint::Map(Box::new(TypeConstraint::Any))),
            other => Err(format!("`{other}` is not a type; {TYPE_HELP}")),
        },
        Expression::FuncCall(call) => {
            let args: Vec<&Expression> = call.args.iter().collect();
            let name = call.name.name.as_str();
            match (name, args.as_slice()) {
                ("list", [inner]) => Ok(TypeConstraint::List(Box::new(parse_type(inner)?))),
                ("set", [inner]) => Ok(TypeConstraint::Set(Box::new(parse_type(inner)?))),
                ("map", [inner]) => Ok(TypeConstraint::Map(Box::new(parse_type(inner)?))),
                ("object", [Expression::Object(object)]) => parse_object(object),
                ("tuple", [Expression::Array(items)]) => {
                    Ok(TypeConstraint::Tuple(items.iter().map(parse_type).collect::<Result<_, _>>()?))
                }
                _ => Err(format!("`{name}(...)` is not a valid type; {TYPE_HELP}")),
            }
        }
        _ => Err(format!("this expression is not a type; {TYPE_HELP}")),
    }
}

fn parse_object(object: &hcl_edit::expr::Object) -> Result<TypeConstraint, String> {
    let mut attrs = Vec::new();
    for (key, value) in object.iter() {
        let name = match key {
            ObjectKey::Ident(ident) => ident.as_str().to_owned(),
            ObjectKey::Expression(Expression::String(text)) => text.value().clone(),
            ObjectKey::Expression(_) => return Err("an object type attribute name must be a name".to_owned()),
        };
        let (inner, optional) = match value.expr() {
            Expression::FuncCall(call) if call.name.name.as_str() == "optional" => {
                let args: Vec<&Expression> = call.args.iter().collect();
                match args.as_slice() {
                    [inner] => (parse_type(inner)?, true),
                    _ => return Err("`optional` takes exactly one type".to_owned()),
                }
            }
            other => (parse_type(other)?, false),
        };
        attrs.push((name, inner, optional));
    }
    Ok(TypeConstraint::Object(attrs))
}

/// Converts a value to a type, keeping its marks; null and unknown values
/// pass unchanged.
pub(crate) fn convert(value: Value, constraint: &TypeConstraint) -> Result<Value, String> {
    let (value, sensitive) = split_mark(value);
    if value.is_null() || value.is_unknown() || *constraint == TypeConstraint::Any {
        return Ok(with_mark(value, sensitive));
    }
    let converted = convert_plain(value, constraint, sensitive)?;
    Ok(with_mark(converted, sensitive))
}

fn mismatch(constraint: &TypeConstraint, value: &Value, sensitive: bool) -> String {
    let shown = match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) if !sensitive => format!(" {value}"),
        _ => String::new(),
    };
    format!("expected {constraint}, found {}{shown}", type_label(value))
}

fn convert_plain(value: Value, constraint: &TypeConstraint, sensitive: bool) -> Result<Value, String> {
    let converted = match constraint {
        TypeConstraint::Any => Some(value.clone()),
        TypeConstraint::String => to_string_form(&value).map(Value::string),
        TypeConstraint::Number => to_number(&value).map(Value::Number),
        TypeConstraint::Bool => to_bool(&value).map(Value::Bool),
        TypeConstraint::List(inner) | TypeConstraint::Set(inner) => match &value {
            Value::List(items) => Some(convert_items(items, inner, matches!(constraint, TypeConstraint::Set(_)))?),
            _ => None,
        },
        TypeConstraint::Map(inner) => match &value {
            Value::Map(map) => Some(convert_map(map, inner)?),
            _ => None,
        },
        TypeConstraint::Object(attrs) => match &value {
            Value::Map(map) => Some(convert_object(map, attrs)?),
            _ => None,
        },
        TypeConstraint::Tuple(types) => match &value {
            Value::List(items) if items.len() == types.len() => Some(Value::List(
                items
                    .iter()
                    .zip(types)
                    .enumerate()
                    .map(|(index, (item, inner))| {
                        convert(item.clone(), inner).map_err(|error| format!("element {index}: {error}"))
                    })
                    .collect::<Result<_, _>>()?,
            )),
            _ => None,
        },
    };
    converted.ok_or_else(|| mismatch(constraint, &value, sensitive))
}

fn convert_items(items: &[Value], inner: &TypeConstraint, set: bool) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let converted = convert(item.clone(), inner).map_err(|error| format!("element {index}: {error}"))?;
        if set && out.iter().any(|seen| crate::lang::eval::values_equal(seen, &converted)) {
            continue;
        }
        out.push(converted);
    }
    Ok(Value::list(out))
}

fn convert_map(map: &BTreeMap<String, Value>, inner: &TypeConstraint) -> Result<Value, String> {
    let mut out = BTreeMap::new();
    for (key, item) in map {
        let converted = convert(item.clone(), inner).map_err(|error| format!("key `{key}`: {error}"))?;
        out.insert(key.clone(), converted);
    }
    Ok(Value::map(out))
}

fn convert_object(map: &BTreeMap<String, Value>, attrs: &[(String, TypeConstraint, bool)]) -> Result<Value, String> {
    let mut out = BTreeMap::new();
    for (name, inner, optional) in attrs {
        match map.get(name) {
            Some(item) => {
                let converted = convert(item.clone(), inner).map_err(|error| format!("attribute `{name}`: {error}"))?;
                out.insert(name.clone(), converted);
            }
            None if *optional => {
                out.insert(name.clone(), Value::Null);
            }
            None => return Err(format!("the attribute `{name}` is required")),
        }
    }
    if let Some(extra) = map.keys().find(|key| !attrs.iter().any(|(name, _, _)| name == *key)) {
        return Err(format!("the attribute `{extra}` is not part of the object type"));
    }
    Ok(Value::map(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TypeConstraint {
        parse_type(&hcl_edit::parser::parse_expr(text).unwrap()).unwrap()
    }

    #[test]
    fn parses_nested_types() {
        assert_eq!(parse("map(list(number))").to_string(), "map(list(number))");
        assert_eq!(
            parse("object({ name = string, size = optional(number) })").to_string(),
            "object({name = string, size = optional(number)})"
        );
    }

    #[test]
    fn converts_numeric_string() {
        assert_eq!(convert(Value::string("42"), &TypeConstraint::Number), Ok(Value::Number(42.0)));
    }

    #[test]
    fn rejects_string_for_number() {
        let error = convert(Value::string("many"), &TypeConstraint::Number).unwrap_err();
        assert_eq!(error, "expected number, found string \"many\"");
    }

    #[test]
    fn hides_sensitive_value_in_error() {
        let error = convert(Value::sensitive(Value::string("hunter2")), &TypeConstraint::Number).unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn set_drops_duplicates() {
        let list = Value::list(vec![Value::string("a"), Value::string("a")]);
        let set = TypeConstraint::Set(Box::new(TypeConstraint::String));
        assert_eq!(convert(list, &set), Ok(Value::list(vec![Value::string("a")])));
    }

    #[test]
    fn object_requires_attributes() {
        let object = parse("object({ name = string })");
        let error = convert(Value::Map(tenancy_sdk::ValueMap::new()), &object).unwrap_err();
        assert_eq!(error, "the attribute `name` is required");
    }

    #[test]
    fn keeps_sensitive_mark() {
        let converted = convert(Value::sensitive(Value::Number(1.0)), &TypeConstraint::String).unwrap();
        assert!(converted.is_sensitive());
    }
}
