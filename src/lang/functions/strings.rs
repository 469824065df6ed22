//! String functions: case, trimming, splitting, `format`, `replace` and the
//! regular expression functions.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use tenancy_sdk::{Value, format_number};

use super::{FnContext, FnError, FnResult, integer_arg, list_arg, string_arg};
use crate::lang::eval::{to_string_form, type_label};

/// Maximum width or precision in a `format` verb, so that a typo cannot
/// allocate gigabytes.
const MAX_FORMAT_WIDTH: usize = 10_000;

/// Maximum compiled size of a user regular expression, in bytes.
const MAX_REGEX_SIZE: usize = 1 << 20;

fn string_result(args: &[Value], apply: impl Fn(&str) -> String) -> FnResult {
    Ok(Value::string(apply(&string_arg(args, 0)?)))
}

pub(super) fn lower(args: &[Value], _: &FnContext) -> FnResult {
    string_result(args, str::to_lowercase)
}

pub(super) fn upper(args: &[Value], _: &FnContext) -> FnResult {
    string_result(args, str::to_uppercase)
}

pub(super) fn title(args: &[Value], _: &FnContext) -> FnResult {
    string_result(args, |text| {
        let mut out = String::with_capacity(text.len());
        let mut at_word_start = true;
        for ch in text.chars() {
            if at_word_start && ch.is_alphabetic() {
                out.extend(ch.to_uppercase());
            } else {
                out.push(ch);
            }
            at_word_start = ch.is_whitespace();
        }
        out
    })
}

pub(super) fn trimspace(args: &[Value], _: &FnContext) -> FnResult {
    string_result(args, |text| text.trim().to_owned())
}

pub(super) fn chomp(args: &[Value], _: &FnContext) -> FnResult {
    string_result(args, |text| text.trim_end_matches(['\n', '\r']).to_owned())
}

pub(super) fn trim(args: &[Value], _: &FnContext) -> FnResult {
    let text = string_arg(args, 0)?;
    let cutset: Vec<char> = string_arg(args, 1)?.chars().collect();
    Ok(Value::string(text.trim_matches(cutset.as_slice()).to_owned()))
}

pub(super) fn trimprefix(args: &[Value], _: &FnContext) -> FnResult {
    let text = string_arg(args, 0)?;
    let prefix = string_arg(args, 1)?;
    Ok(Value::string(text.strip_prefix(prefix.as_str()).unwrap_or(&text).to_owned()))
}

pub(super) fn trimsuffix(args: &[Value], _: &FnContext) -> FnResult {
    let text = string_arg(args, 0)?;
    let suffix = string_arg(args, 1)?;
    Ok(Value::string(text.strip_suffix(suffix.as_str()).unwrap_or(&text).to_owned()))
}

pub(super) fn startswith(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::Bool(string_arg(args, 0)?.starts_with(&string_arg(args, 1)?)))
}

pub(super) fn endswith(args: &[Value], _: &FnContext) -> FnResult {
    Ok(Value::Bool(string_arg(args, 0)?.ends_with(&string_arg(args, 1)?)))
}

pub(super) fn indent(args: &[Value], _: &FnContext) -> FnResult {
    let spaces = integer_arg(args, 0)?;
    if !(0..=MAX_FORMAT_WIDTH as i64).contains(&spaces) {
        return Err(FnError::arg(0, format!("the indent must be between 0 and {MAX_FORMAT_WIDTH}")));
    }
    let padding = " ".repeat(spaces as usize);
    let text = string_arg(args, 1)?;
    Ok(Value::string(text.replace('\n', &format!("\n{padding}"))))
}

pub(super) fn split(args: &[Value], _: &FnContext) -> FnResult {
    let separator = string_arg(args, 0)?;
    let text = string_arg(args, 1)?;
    let parts: Vec<Value> = if separator.is_empty() {
        text.chars().map(|ch| Value::string(ch.to_string())).collect()
    } else {
        text.split(separator.as_str()).map(Value::from).collect()
    };
    Ok(Value::list(parts))
}

pub(super) fn join(args: &[Value], _: &FnContext) -> FnResult {
    let separator = string_arg(args, 0)?;
    let items = list_arg(args, 1)?;
    let mut parts = Vec::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        match to_string_form(item) {
            Some(text) => parts.push(text),
            None => {
                let message = format!("element {position} must be a string, found {}", type_label(item));
                return Err(FnError::arg(1, message));
            }
        }
    }
    Ok(Value::string(parts.join(&separator)))
}

pub(super) fn substr(args: &[Value], _: &FnContext) -> FnResult {
    let chars: Vec<char> = string_arg(args, 0)?.chars().collect();
    let count = chars.len() as i64;
    let mut offset = integer_arg(args, 1)?;
    let length = integer_arg(args, 2)?;
    if offset < 0 {
        offset += count;
    }
    let start = offset.clamp(0, count);
    let end = if length < 0 { count } else { start.saturating_add(length).min(count) };
    Ok(Value::string(chars[start as usize..end as usize].iter().collect::<String>()))
}

pub(super) fn replace(args: &[Value], _: &FnContext) -> FnResult {
    let text = string_arg(args, 0)?;
    let search = string_arg(args, 1)?;
    let replacement = string_arg(args, 2)?;
    let pattern = search.strip_prefix('/').and_then(|rest| rest.strip_suffix('/'));
    match pattern {
        Some(pattern) if search.len() > 1 => {
            let regex = compile(pattern, 1)?;
            Ok(Value::string(regex.replace_all(&text, replacement.as_str()).into_owned()))
        }
        _ => Ok(Value::string(text.replace(&search, &replacement))),
    }
}

fn compile(pattern: &str, arg: usize) -> Result<Regex, FnError> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|error| FnError::arg(arg, format!("invalid regular expression: {error}")))
}

/// Returns what one match yields: the matched text without capture groups,
/// a map with named groups, or a list with unnamed ones.
fn match_value(regex: &Regex, captures: &regex::Captures) -> Value {
    let named: Vec<&str> = regex.capture_names().flatten().collect();
    if regex.captures_len() == 1 {
        return Value::string(captures.get(0).map_or("", |found| found.as_str()));
    }
    let text_of = |found: Option<regex::Match>| found.map_or(Value::Null, |found| Value::string(found.as_str()));
    if named.is_empty() {
        let groups = (1..regex.captures_len()).map(|index| text_of(captures.get(index))).collect();
        return Value::List(groups);
    }
    let groups: BTreeMap<String, Value> = named
        .iter()
        .map(|name| ((*name).to_owned(), text_of(captures.name(name))))
        .collect();
    Value::map(groups)
}

pub(super) fn regex(args: &[Value], _: &FnContext) -> FnResult {
    let regex = compile(&string_arg(args, 0)?, 0)?;
    let text = string_arg(args, 1)?;
    match regex.captures(&text) {
        Some(captures) => Ok(match_value(&regex, &captures)),
        None => Err(FnError::arg(1, "the pattern does not match the string")),
    }
}

pub(super) fn regexall(args: &[Value], _: &FnContext) -> FnResult {
    let regex = compile(&string_arg(args, 0)?, 0)?;
    let text = string_arg(args, 1)?;
    let matches = regex.captures_iter(&text).map(|captures| match_value(&regex, &captures)).collect();
    Ok(Value::List(matches))
}

pub(super) fn format(args: &[Value], _: &FnContext) -> FnResult {
    let spec = string_arg(args, 0)?;
    format_with(&spec, &args[1..]).map(Value::string)
}

pub(super) fn formatlist(args: &[Value], _: &FnContext) -> FnResult {
    let spec = string_arg(args, 0)?;
    let rest = &args[1..];
    let mut length: Option<usize> = None;
    for (position, arg) in rest.iter().enumerate() {
        if let Some(items) = arg.as_list() {
            if length.is_some_and(|length| length != items.len()) {
                return Err(FnError::arg(position + 1, "every list argument must have the same length"));
            }
            length = Some(items.len());
        }
    }
    let mut results = Vec::new();
    for row in 0..length.unwrap_or(1) {
        let row_args: Vec<Value> = rest
            .iter()
            .map(|arg| match arg.as_list() {
                Some(items) => items[row].clone(),
                None => arg.clone(),
            })
            .collect();
        results.push(Value::string(format_with(&spec, &row_args)?));
    }
    Ok(Value::list(results))
}

/// One `%` verb of a format string.
#[derive(Default)]
struct Verb {
    left_align: bool,
    zero_pad: bool,
    plus_sign: bool,
    width: Option<usize>,
    precision: Option<usize>,
    kind: char,
}

fn format_with(spec: &str, args: &[Value]) -> Result<String, FnError> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next_arg = 0;
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let verb = parse_verb(&mut chars)?;
        let Some(arg) = args.get(next_arg) else {
            return Err(FnError::arg(0, format!("the format needs more than {} arguments", args.len())));
        };
        next_arg += 1;
        let text = render_verb(&verb, arg).map_err(|message| FnError::arg(next_arg, message))?;
        out.push_str(&pad(&verb, text));
    }
    if next_arg < args.len() {
        return Err(FnError::arg(0, format!("the format uses {next_arg} of {} arguments", args.len())));
    }
    Ok(out)
}

fn parse_verb(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<Verb, FnError> {
    let mut verb = Verb::default();
    while let Some(&flag) = chars.peek() {
        match flag {
            '-' => verb.left_align = true,
            '0' => verb.zero_pad = true,
            '+' => verb.plus_sign = true,
            _ => break,
        }
        chars.next();
    }
    verb.width = parse_count(chars)?;
    if chars.peek() == Some(&'.') {
        chars.next();
        verb.precision = Some(parse_count(chars)?.unwrap_or(0));
    }
    verb.kind = chars.next().ok_or_else(|| FnError::arg(0, "the format ends inside a `%` verb"))?;
    Ok(verb)
}

fn parse_count(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<Option<usize>, FnError> {
    let mut digits = String::new();
    while let Some(&digit) = chars.peek().filter(|ch| ch.is_ascii_digit()) {
        digits.push(digit);
        chars.next();
    }
    if digits.is_empty() {
        return Ok(None);
    }
    match digits.parse::<usize>() {
        Ok(count) if count <= MAX_FORMAT_WIDTH => Ok(Some(count)),
        _ => Err(FnError::arg(0, format!("a width or precision must be at most {MAX_FORMAT_WIDTH}"))),
    }
}

fn render_verb(verb: &Verb, arg: &Value) -> Result<String, String> {
    let number = || {
        crate::lang::eval::to_number(arg)
            .ok_or_else(|| format!("`%{}` needs a number, found {}", verb.kind, type_label(arg)))
    };
    let sign = |number: f64, text: String| {
        if verb.plus_sign && number >= 0.0 { format!("+{text}") } else { text }
    };
    match verb.kind {
        'v' => Ok(to_string_form(arg).unwrap_or_else(|| arg.to_json().to_string())),
        's' => to_string_form(arg).ok_or_else(|| format!("`%s` needs a string, found {}", type_label(arg))),
        'q' => Ok(serde_json::Value::String(to_string_form(arg).unwrap_or_default()).to_string()),
        't' => crate::lang::eval::to_bool(arg)
            .map(|flag| flag.to_string())
            .ok_or_else(|| format!("`%t` needs a bool, found {}", type_label(arg))),
        'd' => {
            let value = number()?;
            if value.fract() != 0.0 {
                return Err(format!("`%d` needs a whole number, found {}", format_number(value)));
            }
            Ok(sign(value, format!("{}", value as i64)))
        }
        'f' => {
            let value = number()?;
            Ok(sign(value, format!("{:.*}", verb.precision.unwrap_or(6), value)))
        }
        'e' => {
            let value = number()?;
            Ok(sign(value, format!("{:.*e}", verb.precision.unwrap_or(6), value)))
        }
        'x' | 'X' | 'o' | 'b' => integer_verb(verb.kind, number()?),
        other => Err(format!("`%{other}` is not a supported format verb")),
    }
}

fn integer_verb(kind: char, value: f64) -> Result<String, String> {
    if value.fract() != 0.0 {
        return Err(format!("`%{kind}` needs a whole number, found {}", format_number(value)));
    }
    let integer = value as i64;
    Ok(match kind {
        'x' => format!("{integer:x}"),
        'X' => format!("{integer:X}"),
        'o' => format!("{integer:o}"),
        _ => format!("{integer:b}"),
    })
}

fn pad(verb: &Verb, text: String) -> String {
    let length = text.chars().count();
    let Some(width) = verb.width.filter(|width| *width > length) else {
        return text;
    };
    let fill = width - length;
    if verb.left_align {
        format!("{text}{}", " ".repeat(fill))
    } else if verb.zero_pad && verb.kind != 's' {
        match text.strip_prefix(['-', '+']) {
            Some(digits) => format!("{}{}{digits}", &text[..1], "0".repeat(fill)),
            None => format!("{}{text}", "0".repeat(fill)),
        }
    } else {
        format!("{}{text}", " ".repeat(fill))
    }
}
