//! Conversions between attribute values and catalog columns.
//!
//! [`Input`] reads typed values out of planned attributes and rejects values
//! of the wrong type with an error that names the resource and attribute. The
//! `*_value` functions turn column values back into attribute values, so a
//! read returns exactly what apply stored.

use chrono::{DateTime, SecondsFormat, Utc};
use tenancy_sdk::{Attrs, Value, format_number};

use crate::error::{Result, SqliteError};

/// The longest tenant id accepted; it also bounds the database file name.
pub const MAX_TENANT_ID_LEN: usize = 63;

/// The longest tier or security policy name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// The largest magnitude of a number attribute: 2^53. Numbers are 64-bit
/// floats in the language, in state and in JSON columns, and every integer
/// up to 2^53 has an exact float. Larger integers silently lose digits.
pub const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// The maximum `trial_days`: ten years.
pub const MAX_TRIAL_DAYS: f64 = 3_650.0;

/// The maximum of the other counts of days, such as retention and password
/// rotation: one hundred years.
pub const MAX_DAYS: f64 = 36_500.0;

/// The maximum of the timeouts in seconds: one year.
pub const MAX_TIMEOUT_SECONDS: f64 = 31_536_000.0;

/// Returns the largest magnitude that the number attribute `name` accepts.
pub fn max_magnitude(name: &str) -> f64 {
    match name {
        "trial_days" => MAX_TRIAL_DAYS,
        _ if name.ends_with("_days") => MAX_DAYS,
        _ if name.ends_with("_seconds") => MAX_TIMEOUT_SECONDS,
        _ => MAX_EXACT_INTEGER,
    }
}

/// Rejects a number beyond the range of attribute `name`, or of its map
/// entry `key`, with a message that names the value and the maximum.
pub fn check_magnitude(subject: &str, name: &str, key: Option<&str>, number: f64) -> Result<()> {
    let max = max_magnitude(name);
    if number.abs() <= max {
        return Ok(());
    }
    let place = match key {
        Some(key) => format!("attribute `{name}` key `{key}`"),
        None => format!("attribute `{name}`"),
    };
    let range = if max == MAX_EXACT_INTEGER {
        let max = format_number(max);
        format!("between -{max} and {max} (±2^53)")
    } else {
        format!("at most {}", format_number(max))
    };
    Err(SqliteError::invalid(
        subject,
        format!(
            "{place} is {}, but it must be {range}",
            display_number(number)
        ),
    ))
}

/// Formats a number for a message: as HCL writes it, or in exponent form
/// when it is too large to read as digits.
fn display_number(number: f64) -> String {
    if number.abs() >= 1e15 {
        format!("{number:e}")
    } else {
        format_number(number)
    }
}

/// Typed access to the attributes of one resource.
pub struct Input<'a> {
    subject: &'a str,
    attrs: &'a Attrs,
}

impl<'a> Input<'a> {
    /// Wraps `attrs` of the resource named `subject` (its address or type).
    pub fn new(subject: &'a str, attrs: &'a Attrs) -> Self {
        Self { subject, attrs }
    }

    /// Returns the resource address or type used in error messages.
    pub fn subject(&self) -> &str {
        self.subject
    }

    /// Returns the attribute's value, or `None` when it is missing or null.
    /// An unknown value is an error: apply receives only known values.
    fn value(&self, name: &str) -> Result<Option<&'a Value>> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(value) if value.is_null() => Ok(None),
            Some(value) if value.contains_unknown() => Err(self.invalid(format!(
                "attribute `{name}` is still unknown; the engine must resolve it before apply"
            ))),
            Some(value) => Ok(Some(value)),
        }
    }

    fn invalid(&self, message: String) -> SqliteError {
        SqliteError::invalid(self.subject, message)
    }

    fn type_error(&self, name: &str, expected: &str, found: &Value) -> SqliteError {
        self.invalid(format!(
            "attribute `{name}` must be {expected}, but it is a {}",
            found.type_name()
        ))
    }

    /// Returns a string attribute, if set.
    pub fn string(&self, name: &str) -> Result<Option<String>> {
        let Some(value) = self.value(name)? else {
            return Ok(None);
        };
        match value.as_str() {
            Some(text) => Ok(Some(text.to_owned())),
            None => Err(self.type_error(name, "a string", value)),
        }
    }

    /// Returns a string attribute that must be set.
    pub fn required_string(&self, name: &str) -> Result<String> {
        self.string(name)?
            .ok_or_else(|| self.invalid(format!("attribute `{name}` is required but missing")))
    }

    /// Returns a string attribute that must be one of `allowed`, or `default`
    /// when it is not set.
    pub fn choice(&self, name: &str, allowed: &[&str], default: &str) -> Result<String> {
        let Some(text) = self.string(name)? else {
            return Ok(default.to_owned());
        };
        if allowed.contains(&text.as_str()) {
            return Ok(text);
        }
        Err(self.invalid(format!(
            "attribute `{name}` is `{text}`, but it must be one of {}",
            quote_list(allowed)
        )))
    }

    /// Returns a number attribute, if set, within the range that
    /// [`max_magnitude`] gives.
    pub fn number(&self, name: &str) -> Result<Option<f64>> {
        let Some(number) = self.finite_number(name)? else {
            return Ok(None);
        };
        check_magnitude(self.subject, name, None, number)?;
        Ok(Some(number))
    }

    fn finite_number(&self, name: &str) -> Result<Option<f64>> {
        let Some(value) = self.value(name)? else {
            return Ok(None);
        };
        match value.as_f64() {
            Some(number) if number.is_finite() => Ok(Some(number)),
            _ => Err(self.type_error(name, "a finite number", value)),
        }
    }

    /// Returns a whole, non-negative number attribute, if set, up to the
    /// maximum that [`max_magnitude`] gives.
    pub fn count(&self, name: &str) -> Result<Option<i64>> {
        let Some(number) = self.finite_number(name)? else {
            return Ok(None);
        };
        if number < 0.0 || number.fract() != 0.0 {
            return Err(self.invalid(format!(
                "attribute `{name}` is {}, but it must be a whole number of zero or more",
                display_number(number)
            )));
        }
        check_magnitude(self.subject, name, None, number)?;
        Ok(Some(number as i64))
    }

    /// Returns a boolean attribute, if set.
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        let Some(value) = self.value(name)? else {
            return Ok(None);
        };
        match value.as_bool() {
            Some(flag) => Ok(Some(flag)),
            None => Err(self.type_error(name, "a bool", value)),
        }
    }

    /// Returns a list of strings as JSON array text, if set.
    pub fn string_list_json(&self, name: &str) -> Result<Option<String>> {
        let Some(value) = self.value(name)? else {
            return Ok(None);
        };
        let Some(items) = value.as_list() else {
            return Err(self.type_error(name, "a list of strings", value));
        };
        if let Some(item) = items.iter().find(|item| item.as_str().is_none()) {
            return Err(self.type_error(
                name,
                "a list of strings, with no other element type",
                item,
            ));
        }
        Ok(Some(value.to_json().to_string()))
    }

    /// Returns the strings of a list attribute, or an empty list when unset.
    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        let Some(json) = self.string_list_json(name)? else {
            return Ok(Vec::new());
        };
        let parsed: Vec<String> = serde_json::from_str(&json).unwrap_or_default();
        Ok(parsed)
    }

    /// Returns a map whose values are all strings as JSON object text.
    pub fn string_map_json(&self, name: &str) -> Result<Option<String>> {
        self.map_json(name, "a map of strings", |value| value.as_str().is_some())
    }

    /// Returns a map whose values are all numbers, each within ±2^53, as
    /// JSON object text.
    pub fn number_map_json(&self, name: &str) -> Result<Option<String>> {
        let json = self.map_json(name, "a map of numbers", |value| {
            value.as_f64().is_some_and(f64::is_finite)
        })?;
        if let Some(map) = self.value(name)?.and_then(Value::as_map) {
            for (key, item) in map {
                let number = item.as_f64().unwrap_or_default();
                check_magnitude(self.subject, name, Some(key), number)?;
            }
        }
        Ok(json)
    }

    fn map_json(
        &self,
        name: &str,
        expected: &str,
        accepts: fn(&Value) -> bool,
    ) -> Result<Option<String>> {
        let Some(value) = self.value(name)? else {
            return Ok(None);
        };
        let Some(map) = value.as_map() else {
            return Err(self.type_error(name, expected, value));
        };
        if let Some((key, item)) = map.iter().find(|(_, item)| !accepts(item)) {
            return Err(self.invalid(format!(
                "attribute `{name}` must be {expected}, but key `{key}` holds a {}",
                item.type_name()
            )));
        }
        Ok(Some(value.to_json().to_string()))
    }

    /// Returns the tenant id in `name`, checked with [`validate_tenant_id`].
    pub fn tenant_id(&self, name: &str) -> Result<String> {
        let tenant_id = self.required_string(name)?;
        validate_tenant_id(self.subject, &tenant_id)?;
        Ok(tenant_id)
    }

    /// Returns the tier or policy name in `name`, checked with
    /// [`validate_name`].
    pub fn name(&self, name: &str) -> Result<String> {
        let text = self.required_string(name)?;
        validate_name(self.subject, name, &text)?;
        Ok(text)
    }

    /// Returns an optional reference to a tier or policy name, checked with
    /// [`validate_name`].
    pub fn reference(&self, name: &str) -> Result<Option<String>> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        validate_name(self.subject, name, &text)?;
        Ok(Some(text))
    }
}

/// Checks a tenant id against the language's rule: it matches
/// `^[a-z_][a-z0-9_]*$` and is at most 63 bytes. The rule leaves out `/`,
/// `.` and NUL, so the id is safe as a file name in `data_dir`.
pub fn validate_tenant_id(subject: &str, tenant_id: &str) -> Result<()> {
    let mut characters = tenant_id.chars();
    let starts_well = characters
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_');
    let rest_valid = characters.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if starts_well && rest_valid && tenant_id.len() <= MAX_TENANT_ID_LEN {
        return Ok(());
    }
    Err(SqliteError::invalid(
        subject,
        format!(
            "tenant_id {} is invalid: it must match `^[a-z_][a-z0-9_]*$` and be at most \
             {MAX_TENANT_ID_LEN} bytes, because it names the tenant's database file",
            serde_json::Value::String(tenant_id.to_owned())
        ),
    ))
}

/// Checks a tier or security policy name: 1 to 128 characters with no
/// control characters.
pub fn validate_name(subject: &str, attribute: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.chars().any(char::is_control)
        && name.trim() == name;
    if valid {
        return Ok(());
    }
    Err(SqliteError::invalid(
        subject,
        format!(
            "attribute `{attribute}` is {}, but it must be 1 to {MAX_NAME_LEN} characters \
             without control characters or surrounding spaces",
            serde_json::Value::String(name.to_owned())
        ),
    ))
}

/// Returns the current time as catalog timestamp text.
pub fn now_timestamp() -> String {
    format_timestamp(Utc::now())
}

/// Formats a time as catalog timestamp text: RFC 3339, UTC, whole seconds.
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses catalog timestamp text, or any RFC 3339 time.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// Returns a string column as a value.
pub fn text_value(text: Option<String>) -> Value {
    text.map_or(Value::Null, Value::string)
}

/// Returns a REAL column as a value.
pub fn real_value(number: Option<f64>) -> Value {
    number.map_or(Value::Null, Value::Number)
}

/// Returns an INTEGER column as a number value.
pub fn integer_value(number: Option<i64>) -> Value {
    number.map_or(Value::Null, |number| Value::Number(number as f64))
}

/// Returns a 0/1 INTEGER column as a bool value.
pub fn bool_value(flag: Option<i64>) -> Value {
    flag.map_or(Value::Null, |flag| Value::Bool(flag != 0))
}

/// Returns a JSON text column as a value. Text that is not JSON (possible
/// only after a hand edit that bypassed the CHECK constraints) is returned
/// as a string, so it shows up as drift instead of failing the refresh.
pub fn json_value(text: Option<String>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => Value::from_json(&json),
        Err(_) => Value::string(text),
    }
}

/// Sets an attribute, reusing the key when the set has it already. An equal
/// value is left in place, so a set shared with the prior attributes keeps
/// sharing them.
pub fn set(attrs: &mut Attrs, name: &str, value: Value) {
    if attrs.get(name) == Some(&value) {
        return;
    }
    match attrs.get_mut(name) {
        Some(slot) => *slot = value,
        None => {
            attrs.insert(name.to_owned(), value);
        }
    }
}

/// Builds attributes from name and value pairs.
pub fn attrs_from<const N: usize>(pairs: [(&str, Value); N]) -> Attrs {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Formats `values` as a list of back-quoted words for messages.
pub fn quote_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|value| format!("`{value}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn tenant_id_accepts_language_ids() {
        let longest = "a".repeat(MAX_TENANT_ID_LEN);
        for id in [
            "acme",
            "studios_berlin",
            "_acme",
            "_",
            "a1",
            longest.as_str(),
        ] {
            assert!(validate_tenant_id("t", id).is_ok(), "{id} should be valid");
        }
    }

    #[test]
    fn tenant_id_rejects_path_and_sql_characters() {
        let long = "a".repeat(MAX_TENANT_ID_LEN + 1);
        for id in [
            "",
            "../etc",
            "..",
            "a/b",
            "a\0b",
            "a b",
            "a;drop",
            "-lead",
            "a-1",
            "Acme",
            "1acme",
            "a.db",
            "é",
            long.as_str(),
        ] {
            assert!(
                validate_tenant_id("t", id).is_err(),
                "{id} should be invalid"
            );
        }
    }

    #[test]
    fn count_rejects_fraction_and_negative() {
        let attrs = attrs_from([
            ("a", Value::Number(1.5)),
            ("b", Value::Number(-1.0)),
            ("c", Value::Number(3.0)),
        ]);
        let input = Input::new("t", &attrs);

        assert!(input.count("a").is_err());
        assert!(input.count("b").is_err());
        assert_eq!(input.count("c").unwrap(), Some(3));
    }

    #[test]
    fn numbers_beyond_range_name_value_and_maximum() {
        let limits = BTreeMap::from([(
            "connections".to_owned(),
            Value::Number(9_223_372_036_854_775_807.0),
        )]);
        let attrs = attrs_from([
            ("trial_days", Value::Number(1e300)),
            ("price", Value::Number(-1e20)),
            ("limits", Value::map(limits)),
            ("retention_days", Value::Number(36_501.0)),
        ]);
        let input = Input::new("tier.pro", &attrs);

        let trial = input.count("trial_days").unwrap_err().to_string();
        let price = input.number("price").unwrap_err().to_string();
        let limits = input.number_map_json("limits").unwrap_err().to_string();
        let retention = input.count("retention_days").unwrap_err().to_string();

        assert_eq!(
            trial,
            "tier.pro: attribute `trial_days` is 1e300, but it must be at most 3650"
        );
        assert!(price.contains("`price` is -1e20"), "{price}");
        assert!(price.contains("between -9007199254740992 and 9007199254740992"));
        assert!(
            limits.contains("`limits` key `connections` is 9.223372036854776e18"),
            "{limits}"
        );
        assert!(retention.contains("at most 36500"), "{retention}");
    }

    #[test]
    fn numbers_at_maximum_are_accepted() {
        let limits = BTreeMap::from([("storage_gb".to_owned(), Value::Number(MAX_EXACT_INTEGER))]);
        let attrs = attrs_from([
            ("trial_days", Value::Number(MAX_TRIAL_DAYS)),
            ("price", Value::Number(-MAX_EXACT_INTEGER)),
            ("limits", Value::map(limits)),
        ]);
        let input = Input::new("tier.pro", &attrs);

        assert_eq!(input.count("trial_days").unwrap(), Some(3650));
        assert_eq!(input.number("price").unwrap(), Some(-MAX_EXACT_INTEGER));
        assert!(input.number_map_json("limits").unwrap().is_some());
    }

    #[test]
    fn unknown_value_is_rejected_at_apply() {
        let attrs = attrs_from([("a", Value::Unknown)]);

        let error = Input::new("tenant.acme", &attrs).string("a").unwrap_err();

        assert!(error.to_string().contains("`a` is still unknown"));
    }

    #[test]
    fn number_map_rejects_string_value() {
        let mut map = BTreeMap::new();
        map.insert("storage_gb".to_owned(), Value::string("50"));
        let attrs = attrs_from([("limits", Value::map(map))]);

        let error = Input::new("tier.pro", &attrs)
            .number_map_json("limits")
            .unwrap_err();

        assert!(
            error
                .to_string()
                .contains("key `storage_gb` holds a string")
        );
    }

    #[test]
    fn json_round_trip_keeps_list_order() {
        let attrs = attrs_from([("f", Value::list(vec!["b".into(), "a".into()]))]);

        let json = Input::new("t", &attrs).string_list_json("f").unwrap();

        assert_eq!(json_value(json), attrs["f"]);
    }

    #[test]
    fn timestamp_format_is_rfc3339_seconds() {
        let time = parse_timestamp("2025-01-31T09:30:00Z").unwrap();

        assert_eq!(format_timestamp(time), "2025-01-31T09:30:00Z");
    }
}
