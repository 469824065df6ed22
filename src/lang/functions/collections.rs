//! Collection functions: lists, maps and sets.
//!
//! Sets are lists without duplicates, sorted by their string form when every
//! element is a string, number or bool.

use std::collections::{BTreeMap, HashSet};

use tenancy_sdk::Value;

use super::{FnContext, FnError, FnResult, integer_arg, list_arg, map_arg, string_arg};
use crate::lang::eval::{to_string_form, type_label, values_equal};

/// Maximum number of elements `range` produces.
const MAX_RANGE: usize = 1024;

pub(super) fn length(args: &[Value], _: &FnContext) -> FnResult {
    let count = match args[0].unmarked() {
        Value::String(text) => text.chars().count(),
        Value::List(items) => items.len(),
        Value::Map(map) => map.len(),
        Value::Unknown => return Ok(Value::Unknown),
        other => return Err(FnError::arg(0, format!("needs a string, list or map, found {}", type_label(other)))),
    };
    Ok(Value::Number(count as f64))
}

pub(super) fn concat(args: &[Value], _: &FnContext) -> FnResult {
    let mut all = Vec::new();
    for index in 0..args.len() {
        all.extend_from_slice(list_arg(args, index)?);
    }
    Ok(Value::list(all))
}

pub(super) fn contains(args: &[Value], _: &FnContext) -> FnResult {
    let items = list_arg(args, 0)?;
    Ok(Value::Bool(items.iter().any(|item| values_equal(item, &args[1]))))
}

pub(super) fn keys(args: &[Value], _: &FnContext) -> FnResult {
    if args[0].is_unknown() {
        return Ok(Value::Unknown);
    }
    let map = map_arg(args, 0)?;
    Ok(Value::List(map.keys().map(|key| Value::string(key.clone())).collect()))
}

pub(super) fn values(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::List(map_arg(args, 0)?.values().cloned().collect()))
}

pub(super) fn lookup(args: &[Value], _: &FnContext) -> FnResult {
    let map = map_arg(args, 0)?;
    let key = string_arg(args, 1)?;
    match (map.get(&key), args.get(2)) {
        (Some(found), _) => Ok(found.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(FnError::arg(1, format!("the key `{key}` does not exist and no default is given"))),
    }
}

pub(super) fn merge(args: &[Value], _: &FnContext) -> FnResult {
    let mut merged = BTreeMap::new();
    for (index, arg) in args.iter().enumerate() {
        if arg.is_null() {
            continue;
        }
        let map = map_arg(args, index)?;
        merged.extend(map.iter().map(|(key, value)| (key.clone(), value.clone())));
    }
    Ok(Value::map(merged))
}

pub(super) fn flatten(args: &[Value], _: &FnContext) -> FnResult {
    fn walk(items: &[Value], out: &mut Vec<Value>) {
        for item in items {
            match item.as_list() {
                Some(inner) => walk(inner, out),
                None => out.push(item.clone()),
            }
        }
    }
    let mut out = Vec::new();
    walk(list_arg(args, 0)?, &mut out);
    Ok(Value::list(out))
}

/// Returns the items without repeats, first occurrence first. Strings go
/// through a hash set, so a set of many tenant keys costs linear time; other
/// values are compared with every earlier non-string value.
fn distinct_values(items: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut strings: HashSet<&str> = HashSet::new();
    let mut others: Vec<usize> = Vec::new();
    for item in items {
        let is_new = match item.unmarked() {
            Value::String(text) => strings.insert(text.as_str()),
            _ => {
                let is_new = !others.iter().any(|&position| values_equal(&out[position], item));
                if is_new {
                    others.push(out.len());
                }
                is_new
            }
        };
        if is_new {
            out.push(item.clone());
        }
    }
    out
}

pub(super) fn distinct(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::list(distinct_values(list_arg(args, 0)?)))
}

/// Returns a set: distinct elements, sorted when every element is primitive.
fn make_set(items: &[Value]) -> Value {
    let mut set = distinct_values(items);
    if set.iter().all(|item| to_string_form(item).is_some()) {
        set.sort_by(compare_primitive);
    }
    Value::list(set)
}

fn compare_primitive(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => to_string_form(a).cmp(&to_string_form(b)),
    }
}

pub(super) fn sort(args: &[Value], _: &FnContext) -> FnResult {
    let items = list_arg(args, 0)?;
    let mut texts = Vec::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        match to_string_form(item) {
            Some(text) => texts.push(text),
            None => {
                let message = format!("element {position} must be a string, found {}", type_label(item));
                return Err(FnError::arg(0, message));
            }
        }
    }
    texts.sort();
    Ok(Value::List(texts.into_iter().map(Value::string).collect()))
}

pub(super) fn reverse(args: &[Value], _: &FnContext) -> FnResult {
    let mut items = list_arg(args, 0)?.to_vec();
    items.reverse();
    Ok(Value::list(items))
}

pub(super) fn slice(args: &[Value], _: &FnContext) -> FnResult {
    let items = list_arg(args, 0)?;
    let start = integer_arg(args, 1)?;
    let end = integer_arg(args, 2)?;
    if start < 0 || start as usize > items.len() {
        return Err(FnError::arg(1, format!("the start index must be between 0 and {}", items.len())));
    }
    if end < start || end as usize > items.len() {
        return Err(FnError::arg(2, format!("the end index must be between {start} and {}", items.len())));
    }
    Ok(Value::list(items[start as usize..end as usize].to_vec()))
}

pub(super) fn element(args: &[Value], _: &FnContext) -> FnResult {
    let items = list_arg(args, 0)?;
    let index = integer_arg(args, 1)?;
    if items.is_empty() {
        return Err(FnError::arg(0, "cannot take an element of an empty list"));
    }
    if index < 0 {
        return Err(FnError::arg(1, "the index must not be negative"));
    }
    Ok(items[index as usize % items.len()].clone())
}

pub(super) fn index(args: &[Value], _: &FnContext) -> FnResult {
    let items = list_arg(args, 0)?;
    match items.iter().position(|item| values_equal(item, &args[1])) {
        Some(position) => Ok(Value::Number(position as f64)),
        None => Err(FnError::arg(1, "the value is not in the list")),
    }
}

pub(super) fn range(args: &[Value], _: &FnContext) -> FnResult {
    let number = |index| super::number_arg(args, index);
    let (start, limit, step) = match args.len() {
        1 => (0.0, number(0)?, 1.0),
        2 => (number(0)?, number(1)?, 1.0),
        _ => (number(0)?, number(1)?, number(2)?),
    };
    if step == 0.0 {
        return Err(FnError::arg(2, "the step must not be zero"));
    }
    let mut values = Vec::new();
    let mut current = start;
    while (step > 0.0 && current < limit) || (step < 0.0 && current > limit) {
        if values.len() == MAX_RANGE {
            return Err(FnError::new(format!("a range has at most {MAX_RANGE} elements")));
        }
        values.push(Value::Number(current));
        current += step;
    }
    Ok(Value::list(values))
}

pub(super) fn zipmap(args: &[Value], _: &FnContext) -> FnResult {
    let keys = list_arg(args, 0)?;
    let values = list_arg(args, 1)?;
    if keys.len() != values.len() {
        return Err(FnError::new(format!("{} keys but {} values", keys.len(), values.len())));
    }
    let mut map = BTreeMap::new();
    for (key, value) in keys.iter().zip(values) {
        let Some(key) = to_string_form(key) else {
            return Err(FnError::arg(0, format!("keys must be strings, found {}", type_label(key))));
        };
        map.insert(key, value.clone());
    }
    Ok(Value::map(map))
}

pub(super) fn toset(args: &[Value], _: &FnContext) -> FnResult {
    Ok(make_set(list_arg(args, 0)?))
}

pub(super) fn tolist(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::list(list_arg(args, 0)?.to_vec()))
}

pub(super) fn tomap(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::map(map_arg(args, 0)?.clone()))
}

pub(super) fn setunion(args: &[Value], _: &FnContext) -> FnResult {
    let mut all = Vec::new();
    for index in 0..args.len() {
        all.extend_from_slice(list_arg(args, index)?);
    }
    Ok(make_set(&all))
}

pub(super) fn setintersection(args: &[Value], _: &FnContext) -> FnResult {
    let first = list_arg(args, 0)?.to_vec();
    let mut kept = first;
    for index in 1..args.len() {
        let other = list_arg(args, index)?;
        kept.retain(|item| other.iter().any(|candidate| values_equal(candidate, item)));
    }
    Ok(make_set(&kept))
}

pub(super) fn setsubtract(args: &[Value], _: &FnContext) -> FnResult {
    let mut kept = list_arg(args, 0)?.to_vec();
    let removed = list_arg(args, 1)?;
    kept.retain(|item| !removed.iter().any(|candidate| values_equal(candidate, item)));
    Ok(make_set(&kept))
}

fn is_empty_value(value: &Value) -> bool {
    match value.unmarked() {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

pub(super) fn coalesce(args: &[Value], _: &FnContext) -> FnResult {
    args.iter()
        .find(|arg| !is_empty_value(arg))
        .cloned()
        .ok_or_else(|| FnError::new("every argument is null or an empty string"))
}

pub(super) fn coalescelist(args: &[Value], _: &FnContext) -> FnResult {
    for index in 0..args.len() {
        if !list_arg(args, index)?.is_empty() {
            return Ok(args[index].clone());
        }
    }
    Err(FnError::new("every argument is an empty list"))
}

pub(super) fn compact(args: &[Value], _: &FnContext) -> FnResult {
    let items = list_arg(args, 0)?;
    Ok(Value::List(items.iter().filter(|item| !is_empty_value(item)).cloned().collect()))
}

pub(super) fn one(args: &[Value], _: &FnContext) -> FnResult {
    match list_arg(args, 0)? {
        [] => Ok(Value::Null),
        [single] => Ok(single.clone()),
        items => Err(FnError::arg(0, format!("needs a list of at most one element, found {}", items.len()))),
    }
}
