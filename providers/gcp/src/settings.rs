//! The `provider "gcp"` block: project, endpoint, credential source and
//! bucket name prefix.
//!
//! The credential source is always explicit. Nothing here falls back to
//! Application Default Credentials (which may query the metadata server)
//! unless the block sets `credentials = "application_default"`.

use std::path::{Path, PathBuf};

use tenancy_sdk::{Attrs, ProviderError, Value};
use url::Url;

/// The Cloud Storage endpoint used when the block sets none.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// The source of the provider's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// No credentials at all: requests carry no `Authorization` header. Only
    /// an emulator accepts them.
    Anonymous,
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, the
    /// gcloud user credentials, then the metadata server.
    ApplicationDefault,
    /// A service account key or authorized user JSON file.
    File(PathBuf),
}

/// The checked settings of one provider instance.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Google Cloud project that new buckets belong to.
    pub project: String,
    /// The Cloud Storage endpoint URL.
    pub endpoint: Url,
    /// The credential source.
    pub credentials: CredentialSource,
    /// The prefix of default bucket names; the project ID when unset.
    pub bucket_prefix: Option<String>,
}

impl Settings {
    /// Checks the block's attributes; relative credential file paths resolve
    /// against `working_dir`.
    pub fn from_attrs(attrs: &Attrs, working_dir: &Path) -> Result<Settings, ProviderError> {
        let mut project = None;
        let mut endpoint = None;
        let mut credentials = None;
        let mut bucket_prefix = None;
        for (name, value) in attrs {
            if value.is_null() {
                continue;
            }
            match name.as_str() {
                "project" => project = Some(string_setting(name, value)?),
                "endpoint" => endpoint = Some(parse_endpoint(&string_setting(name, value)?)?),
                "credentials" => {
                    credentials = Some(parse_credentials(
                        &string_setting(name, value)?,
                        working_dir,
                    ))
                }
                "bucket_prefix" => {
                    bucket_prefix = Some(parse_prefix(&string_setting(name, value)?)?)
                }
                // The engine reads `alias` itself; accept it if it is passed on.
                "alias" => {}
                _ => {
                    return Err(ProviderError::invalid(format!("the gcp provider has no setting `{name}`"))
                        .with_hint("The settings are `project`, `endpoint`, `credentials` and `bucket_prefix`."));
                }
            }
        }
        let project = project.ok_or_else(|| {
            ProviderError::invalid("the gcp provider needs the setting `project`").with_hint(
                "Set `project` to the ID of the Google Cloud project that owns the buckets.",
            )
        })?;
        check_project(&project)?;
        let credentials = credentials.ok_or_else(|| {
            ProviderError::invalid("the gcp provider needs the setting `credentials`")
                .with_hint(CREDENTIALS_HINT)
        })?;
        let endpoint = match endpoint {
            Some(endpoint) => endpoint,
            None => parse_endpoint(DEFAULT_ENDPOINT)?,
        };
        Ok(Settings {
            project,
            endpoint,
            credentials,
            bucket_prefix,
        })
    }

    /// Returns the prefix of default bucket names.
    pub fn name_prefix(&self) -> &str {
        self.bucket_prefix.as_deref().unwrap_or(&self.project)
    }

    /// Returns true when the endpoint is on this machine, where a proxy from
    /// the environment must not be used.
    pub fn endpoint_is_loopback(&self) -> bool {
        match self.endpoint.host() {
            Some(url::Host::Ipv4(address)) => address.is_loopback(),
            Some(url::Host::Ipv6(address)) => address.is_loopback(),
            Some(url::Host::Domain(domain)) => domain == "localhost",
            None => false,
        }
    }
}

const CREDENTIALS_HINT: &str = "Set `credentials` to `anonymous` for a local emulator, to the path of a \
    service account key file, or to `application_default` to use Application Default Credentials.";

fn string_setting(name: &str, value: &Value) -> Result<String, ProviderError> {
    value.as_str().map(str::to_owned).ok_or_else(|| {
        ProviderError::invalid(format!(
            "the gcp provider setting `{name}` must be a string, not {}",
            value.type_name()
        ))
    })
}

/// Parses an endpoint URL such as `http://127.0.0.1:4443`.
pub fn parse_endpoint(text: &str) -> Result<Url, ProviderError> {
    let invalid = |reason: &str| {
        ProviderError::invalid(format!(
            "invalid gcp provider `endpoint` `{text}`: {reason}"
        ))
        .with_hint("Use a URL such as `https://storage.googleapis.com` or `http://127.0.0.1:4443`.")
    };
    let mut url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host().is_none() {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// Parses the `credentials` setting; anything other than the two keywords
/// is a file path.
pub fn parse_credentials(text: &str, working_dir: &Path) -> CredentialSource {
    match text {
        "anonymous" => CredentialSource::Anonymous,
        "application_default" => CredentialSource::ApplicationDefault,
        path => CredentialSource::File(working_dir.join(path)),
    }
}

fn check_project(project: &str) -> Result<(), ProviderError> {
    let valid = !project.is_empty()
        && project.len() <= 100
        && project.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '-' | '.' | ':' | '_')
        });
    if valid {
        Ok(())
    } else {
        Err(
            ProviderError::invalid(format!("invalid gcp provider `project` `{project}`"))
                .with_hint(
                    "A project ID has lower-case letters, digits and hyphens, such as `acme-prod`.",
                ),
        )
    }
}

fn parse_prefix(prefix: &str) -> Result<String, ProviderError> {
    let valid = !prefix.is_empty()
        && prefix.len() <= 40
        && prefix.starts_with(|character: char| {
            character.is_ascii_lowercase() || character.is_ascii_digit()
        })
        && prefix.chars().all(|character| {
            character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
        });
    if valid {
        Ok(prefix.to_owned())
    } else {
        Err(ProviderError::invalid(format!("invalid gcp provider `bucket_prefix` `{prefix}`")).with_hint(
            "Use 1 to 40 lower-case letters, digits and hyphens, starting with a letter or digit, such as `acme-tenants`.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), Value::string(*value)))
            .collect()
    }

    #[test]
    fn emulator_settings_parse() {
        let settings = Settings::from_attrs(
            &attrs(&[
                ("project", "acme-test"),
                ("endpoint", "http://127.0.0.1:4443/"),
                ("credentials", "anonymous"),
                ("bucket_prefix", "acme"),
            ]),
            Path::new("/config"),
        )
        .unwrap();

        assert_eq!(settings.endpoint.as_str(), "http://127.0.0.1:4443/");
        assert_eq!(settings.credentials, CredentialSource::Anonymous);
        assert_eq!(settings.name_prefix(), "acme");
        assert!(settings.endpoint_is_loopback());
    }

    #[test]
    fn defaults_use_google_endpoint_and_project_prefix() {
        let settings = Settings::from_attrs(
            &attrs(&[("project", "acme-prod"), ("credentials", "keys/ci.json")]),
            Path::new("/config"),
        )
        .unwrap();

        assert_eq!(settings.endpoint.host_str(), Some("storage.googleapis.com"));
        assert_eq!(
            settings.credentials,
            CredentialSource::File(PathBuf::from("/config/keys/ci.json"))
        );
        assert_eq!(settings.name_prefix(), "acme-prod");
        assert!(!settings.endpoint_is_loopback());
    }

    #[test]
    fn missing_credentials_are_rejected_with_choices() {
        let error =
            Settings::from_attrs(&attrs(&[("project", "acme")]), Path::new("/")).unwrap_err();

        assert!(error.message.contains("`credentials`"), "{}", error.message);
        assert!(error.hint.unwrap().contains("anonymous"));
    }

    #[test]
    fn unknown_setting_is_named() {
        let error = Settings::from_attrs(
            &attrs(&[
                ("project", "acme"),
                ("credentials", "anonymous"),
                ("zone", "x"),
            ]),
            Path::new("/"),
        )
        .unwrap_err();

        assert!(error.message.contains("`zone`"), "{}", error.message);
    }

    #[test]
    fn invalid_endpoint_and_prefix_are_rejected() {
        assert!(parse_endpoint("ftp://127.0.0.1").is_err());
        assert!(parse_endpoint("not a url").is_err());
        assert!(parse_prefix("Acme").is_err());
        assert!(parse_prefix("-acme").is_err());
        assert!(parse_prefix("acme-1").is_ok());
    }
}
