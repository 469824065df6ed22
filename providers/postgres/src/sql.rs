//! SQL text helpers: identifier and literal quoting, name checks and the
//! parsing of duration settings as PostgreSQL stores them.
//!
//! Utility statements (`CREATE ROLE`, `ALTER ROLE … SET`, `GRANT`) take no
//! bind parameters, so every name and value that reaches them goes through
//! [`ident`] or [`literal`] here.

/// The longest identifier PostgreSQL keeps without truncating it (`NAMEDATALEN - 1`).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Quotes an identifier: wraps it in double quotes and doubles inner quotes.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a possibly schema-qualified table name such as `app.orders`.
pub fn qualified(name: &TableName) -> String {
    match &name.schema {
        Some(schema) => format!("{}.{}", ident(schema), ident(&name.table)),
        None => ident(&name.table),
    }
}

/// Quotes a string literal. Backslashes switch to the `E''` form so the
/// result means the same whatever `standard_conforming_strings` is set to.
pub fn literal(text: &str) -> String {
    let doubled = text.replace('\'', "''");
    if doubled.contains('\\') {
        format!("E'{}'", doubled.replace('\\', "\\\\"))
    } else {
        format!("'{doubled}'")
    }
}

/// Returns true for a lowercase identifier that needs no quoting:
/// `[a-z_][a-z0-9_]*`.
pub fn is_simple_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_');
    first_ok && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks a name given for a database, schema or table: non-empty, at most
/// 63 bytes and free of NUL characters, which no quoting can carry.
pub fn check_object_name(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kind} name is empty"));
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "{kind} name `{name}` is {} bytes long, and PostgreSQL allows at most {MAX_IDENTIFIER_BYTES}",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err(format!("{kind} name `{}` contains a NUL character", name.escape_debug()));
    }
    Ok(())
}

/// A table named in the `tables` attribute, with an optional schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableName {
    /// The schema, when the name is qualified.
    pub schema: Option<String>,
    /// The table.
    pub table: String,
}

impl TableName {
    /// Parses `table` or `schema.table`; each part must be a simple
    /// identifier so that the written name and the catalog name agree.
    pub fn parse(text: &str) -> Result<TableName, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let (schema, table) = match parts.as_slice() {
            [table] => (None, *table),
            [schema, table] => (Some(*schema), *table),
            _ => return Err(format!("table name `{text}` has more than one dot; write `table` or `schema.table`")),
        };
        for part in schema.iter().chain([&table]) {
            if !is_simple_identifier(part) || part.len() > MAX_IDENTIFIER_BYTES {
                return Err(format!(
                    "table name `{text}` is invalid: each part must match [a-z_][a-z0-9_]* and be at most 63 bytes"
                ));
            }
        }
        Ok(TableName {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
        })
    }

    /// Returns the schema, `public` when the name is not qualified.
    pub fn schema_or_public(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// Returns the name as written: `table` or `schema.table`.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// Parses a duration setting as stored in `pg_db_role_setting`, such as
/// `5000`, `5s` or `2min`, into milliseconds. A bare number is milliseconds,
/// the base unit of `statement_timeout` and
/// `idle_in_transaction_session_timeout`.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim().trim_matches('\'').trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some((number * factor).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ident_doubles_quotes() {
        assert_eq!(ident("tenant_acme"), "\"tenant_acme\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn literal_escapes_quotes_and_backslashes() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\b'"), "E'a\\\\b'''");
    }

    #[test]
    fn simple_identifier_rules() {
        assert!(is_simple_identifier("acme_2"));
        assert!(is_simple_identifier("_x"));
        assert!(!is_simple_identifier("2acme"));
        assert!(!is_simple_identifier("Acme"));
        assert!(!is_simple_identifier("a-b"));
        assert!(!is_simple_identifier(""));
    }

    #[test]
    fn table_name_parses_schema() {
        let name = TableName::parse("app.orders").unwrap();

        assert_eq!(name.schema.as_deref(), Some("app"));
        assert_eq!(qualified(&name), "\"app\".\"orders\"");
        assert_eq!(TableName::parse("orders").unwrap().schema_or_public(), "public");
    }

    #[test]
    fn table_name_rejects_injection() {
        assert!(TableName::parse("orders; drop table x").is_err());
        assert!(TableName::parse("a.b.c").is_err());
    }

    #[test]
    fn duration_units_convert_to_milliseconds() {
        assert_eq!(parse_duration_ms("5000"), Some(5000));
        assert_eq!(parse_duration_ms("5s"), Some(5000));
        assert_eq!(parse_duration_ms("2min"), Some(120_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("soon"), None);
    }

    #[test]
    fn object_name_checks_length() {
        assert!(check_object_name("database", &"x".repeat(64)).is_err());
        assert!(check_object_name("database", "tenancy_shared").is_ok());
    }
}
