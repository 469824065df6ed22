//! The `provider "azure"` block: which storage account to manage and how to
//! reach and authorize against its Blob service.

use std::fmt;

use azure_core::credentials::Secret;
use azure_core::http::Url;
use tenancy_sdk::{Attrs, Value};

use crate::error::Error;

/// The account name of the Azurite development account.
pub const DEVELOPMENT_ACCOUNT_NAME: &str = "devstoreaccount1";

/// The published key of the Azurite development account. It is a public
/// constant of the emulator and protects nothing.
pub const DEVELOPMENT_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The Blob service URL of a local Azurite on its default port.
pub const DEVELOPMENT_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// The attributes the provider block accepts; `alias` belongs to the engine.
const ACCEPTED: [&str; 4] = ["account_name", "account_key", "endpoint", "alias"];

/// The provider block after validation.
#[derive(Clone)]
pub struct ProviderSettings {
    /// The storage account name.
    pub account_name: String,
    /// The account's access key, base64-encoded.
    pub account_key: Secret,
    /// The Blob service URL, without a trailing `/`.
    pub endpoint: Url,
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ProviderSettings")
            .field("account_name", &self.account_name)
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl ProviderSettings {
    /// Returns the URL of a container in this account.
    pub fn container_url(&self, name: &str) -> String {
        format!("{}/{name}", self.endpoint.as_str().trim_end_matches('/'))
    }
}

/// Validates the provider block. `endpoint` defaults to the public Azure
/// Blob service URL of the account, and one trailing `/` is dropped.
pub fn parse(config: &Attrs) -> Result<ProviderSettings, Error> {
    if let Some(unknown) = config.keys().find(|key| !ACCEPTED.contains(&key.as_str())) {
        return Err(Error::Invalid(format!(
            "unknown attribute `{unknown}`; the block accepts `account_name`, `account_key` and `endpoint`"
        )));
    }
    let account_name = string_setting(config, "account_name")?.ok_or_else(|| {
        Error::Invalid(format!(
            "`account_name` is required, such as \"{DEVELOPMENT_ACCOUNT_NAME}\" for Azurite"
        ))
    })?;
    check_account_name(&account_name)?;

    let account_key = string_setting(config, "account_key")?
        .ok_or_else(|| Error::Invalid("`account_key` is required: one of the account's access keys".into()))?;
    // The error leaves the value out, because it is a secret.
    if azure_core::base64::decode(account_key.trim()).is_err() {
        return Err(Error::Invalid(
            "`account_key` is not valid base64; copy one of the account's access keys as the portal shows it"
                .into(),
        ));
    }

    let endpoint = match string_setting(config, "endpoint")? {
        Some(text) => parse_endpoint(&text)?,
        None => parse_endpoint(&format!("https://{account_name}.blob.core.windows.net"))?,
    };
    Ok(ProviderSettings {
        account_name,
        account_key: Secret::new(account_key.trim().to_owned()),
        endpoint,
    })
}

fn string_setting(config: &Attrs, name: &str) -> Result<Option<String>, Error> {
    match config.get(name) {
        None => Ok(None),
        Some(value) if value.contains_unknown() => Err(Error::Invalid(format!(
            "`{name}` must be known before apply, but it depends on a value known only after apply"
        ))),
        Some(value) => match value.unmarked() {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(text.to_string())),
            other => Err(Error::Invalid(format!(
                "`{name}` must be a string, but it is a {}",
                other.type_name()
            ))),
        },
    }
}

/// Checks the Azure rule for storage account names: 3 to 24 lowercase
/// letters and digits.
fn check_account_name(name: &str) -> Result<(), Error> {
    let valid_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=24).contains(&name.len()) && valid_chars {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "`account_name` `{name}` is invalid: a storage account name has 3 to 24 lowercase letters and digits"
    )))
}

/// Parses the Blob service URL: `http` or `https`, no credentials, query or
/// fragment, and no trailing `/` (one is removed).
fn parse_endpoint(text: &str) -> Result<Url, Error> {
    let invalid = |reason: &str| Error::Invalid(format!("`endpoint` `{text}` is invalid: {reason}"));
    let mut url = Url::parse(text.trim()).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(invalid("it must be a service URL such as https://ACCOUNT.blob.core.windows.net"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not contain credentials; set `account_key` instead"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "it must not contain a query or fragment; the provider signs requests with `account_key`, not a SAS token",
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if path.contains("//") {
        return Err(invalid("its path contains an empty segment"));
    }
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), Value::string(*value)))
            .collect()
    }

    fn development(endpoint: &str) -> Attrs {
        config(&[
            ("account_name", DEVELOPMENT_ACCOUNT_NAME),
            ("account_key", DEVELOPMENT_ACCOUNT_KEY),
            ("endpoint", endpoint),
        ])
    }

    #[test]
    fn endpoint_trailing_slash_is_dropped() {
        let settings = parse(&development("http://127.0.0.1:10000/devstoreaccount1/")).unwrap();

        assert_eq!(settings.endpoint.as_str(), DEVELOPMENT_ENDPOINT);
        assert_eq!(settings.container_url("acme"), "http://127.0.0.1:10000/devstoreaccount1/acme");
    }

    #[test]
    fn endpoint_defaults_to_public_service() {
        let settings = parse(&config(&[("account_name", "acme1"), ("account_key", DEVELOPMENT_ACCOUNT_KEY)])).unwrap();

        assert_eq!(settings.container_url("box"), "https://acme1.blob.core.windows.net/box");
    }

    #[test]
    fn endpoint_with_query_is_rejected() {
        let error = parse(&development("https://acme1.blob.core.windows.net/?sv=2020&sig=x")).unwrap_err();

        assert!(error.to_string().contains("SAS token"), "{error}");
    }

    #[test]
    fn endpoint_with_other_scheme_is_rejected() {
        let error = parse(&development("ftp://127.0.0.1/devstoreaccount1")).unwrap_err();

        assert!(error.to_string().contains("http or https"), "{error}");
    }

    #[test]
    fn invalid_key_error_hides_value() {
        let mut attrs = development(DEVELOPMENT_ENDPOINT);
        attrs.insert("account_key", Value::sensitive(Value::string("secret!!value")));

        let error = parse(&attrs).unwrap_err();

        assert!(error.to_string().contains("not valid base64"));
        assert!(!error.to_string().contains("secret!!value"));
    }

    #[test]
    fn uppercase_account_name_is_rejected() {
        let mut attrs = development(DEVELOPMENT_ENDPOINT);
        attrs.insert("account_name", Value::string("DevStore"));

        assert!(parse(&attrs).unwrap_err().to_string().contains("lowercase"));
    }

    #[test]
    fn unknown_attribute_is_rejected() {
        let mut attrs = development(DEVELOPMENT_ENDPOINT);
        attrs.insert("acount_key", Value::string("x"));

        assert!(parse(&attrs).unwrap_err().to_string().contains("unknown attribute `acount_key`"));
    }

    #[test]
    fn debug_output_hides_key() {
        let settings = parse(&development(DEVELOPMENT_ENDPOINT)).unwrap();

        assert!(!format!("{settings:?}").contains(DEVELOPMENT_ACCOUNT_KEY));
    }
}
