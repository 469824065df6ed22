//! Tenant passwords: generation, rotation dates and the tenant's connection
//! URL.
//!
//! Passwords come from the operating system's CSPRNG and reach the server
//! only as SCRAM-SHA-256 verifiers, so neither the server log (even with
//! `log_statement = 'all'`) nor `pg_stat_activity` ever shows the plaintext.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

use crate::connection::{Server, encode_query_value};
use crate::spec::TenantSpec;

/// Length of generated passwords: 40 alphanumeric characters, about 238 bits.
pub const PASSWORD_LENGTH: usize = 40;

/// Returns a new random password drawn from the OS random source.
pub fn generate_password() -> String {
    let mut rng = OsRng.unwrap_err();
    (0..PASSWORD_LENGTH)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect()
}

/// Returns the SCRAM-SHA-256 verifier of a password, with a fresh salt, in
/// the form `CREATE ROLE … PASSWORD` accepts.
pub fn scram_verifier(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// Returns the current time as stored in `password_updated_at`.
pub fn now_text() -> String {
    format_time(Utc::now())
}

/// Formats a time as RFC 3339 in UTC with whole seconds.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses a time written by [`format_time`].
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.with_timezone(&Utc))
}

/// Returns true when a password set at `updated_at` is due for rotation
/// after `days` days, at `now`. An unreadable date counts as due.
pub fn rotation_due(updated_at: &str, days: i64, now: DateTime<Utc>) -> bool {
    match parse_time(updated_at) {
        Some(updated) => updated + Duration::days(days) <= now,
        None => true,
    }
}

/// Returns the role's `VALID UNTIL` for a password set at `updated_at`: two
/// rotation periods later. Rotation falls due after one period, so a
/// scheduled apply has a whole period to rotate before logins stop working.
pub fn valid_until(updated_at: &str, rotation_days: Option<i64>) -> Option<String> {
    let days = rotation_days?;
    let updated = parse_time(updated_at)?;
    Some(format_time(updated + Duration::days(days * 2)))
}

/// Builds the tenant's connection URL:
/// `postgres://ROLE:PASSWORD@HOST:PORT/DATABASE`, with the schema as
/// `search_path` under schema isolation and `sslmode=require` when SSL is
/// required.
pub fn tenant_url(server: &Server, spec: &TenantSpec, password: &str) -> String {
    let mut params = Vec::new();
    let host = match server.url_host() {
        Some(host) => host,
        None => {
            if let Some(dir) = server.socket_dir() {
                params.push(format!("host={}", encode_query_value(&dir)));
            }
            String::new()
        }
    };
    if let Some(schema) = spec.schema() {
        params.push(format!("options={}", encode_query_value(&format!("-csearch_path={schema}"))));
    }
    if spec.ssl_required {
        params.push("sslmode=require".to_owned());
    }

    // Role, password and database names are `[a-z0-9_]` or alphanumeric
    // here, except a shared database name, which is encoded.
    let mut url = format!(
        "postgres://{}:{password}@{host}:{}/{}",
        spec.role,
        server.port(),
        encode_query_value(&spec.database)
    );
    if !params.is_empty() {
        url.push('?');
        url.push_str(&params.join("&"));
    }
    url
}

#[cfg(test)]
mod tests {
    use tenancy_sdk::{Attrs, Value};

    use super::*;

    fn spec(isolation: &str, ssl: bool) -> TenantSpec {
        let attrs: Attrs = [
            ("tenant_id", Value::from("acme")),
            ("isolation", isolation.into()),
            ("database", "shared".into()),
            ("ssl_required", ssl.into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        TenantSpec::from_attrs(&attrs, &[]).unwrap()
    }

    #[test]
    fn passwords_are_long_and_distinct() {
        let first = generate_password();
        let second = generate_password();

        assert_eq!(first.len(), PASSWORD_LENGTH);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, second);
    }

    #[test]
    fn verifier_hides_password() {
        let verifier = scram_verifier("hunter2hunter2");

        assert!(verifier.starts_with("SCRAM-SHA-256$"));
        assert!(!verifier.contains("hunter2"));
    }

    #[test]
    fn rotation_falls_due_after_period() {
        let now = parse_time("2026-03-01T00:00:00Z").unwrap();

        assert!(rotation_due("2026-01-01T00:00:00Z", 30, now));
        assert!(!rotation_due("2026-02-15T00:00:00Z", 30, now));
        assert!(rotation_due("not a date", 30, now));
    }

    #[test]
    fn valid_until_is_two_periods_later() {
        assert_eq!(
            valid_until("2026-01-01T00:00:00Z", Some(30)).as_deref(),
            Some("2026-03-02T00:00:00Z")
        );
        assert_eq!(valid_until("2026-01-01T00:00:00Z", None), None);
    }

    #[test]
    fn schema_url_sets_search_path_and_ssl() {
        let server = Server::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();

        let url = tenant_url(&server, &spec("schema", true), "pw");

        assert_eq!(
            url,
            "postgres://tenant_acme:pw@127.0.0.1:5432/shared?options=-csearch_path%3Dtenant_acme&sslmode=require"
        );
    }

    #[test]
    fn database_url_names_tenant_database() {
        let server = Server::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();

        let url = tenant_url(&server, &spec("database", false), "pw");

        assert_eq!(url, "postgres://tenant_acme:pw@127.0.0.1:5432/tenant_acme");
    }
}
