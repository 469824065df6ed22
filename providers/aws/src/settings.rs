//! The provider block's settings and the EC2 clients built from them.
//!
//! One provider instance serves every region: resources carry their own
//! `region`, and [`Clients`] builds one EC2 client per region on first use,
//! all sharing the same credentials, endpoint and timeouts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use tenancy_sdk::{Attrs, Value};

use crate::attrs::check_region;
use crate::error::Error;

/// The region used when neither the provider block nor the resource sets one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long opening a connection to the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one API operation may take, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The checked settings of one `provider "aws"` block.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// The region of resources that do not set one.
    pub region: String,
    /// An endpoint URL that replaces the regional EC2 endpoints.
    pub endpoint: Option<String>,
    /// A static access key id and secret access key.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Settings")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials.as_ref().map(|_| "(sensitive value)"))
            .finish()
    }
}

impl Settings {
    /// Reads and checks the provider block's attributes.
    pub fn from_attrs(config: &Attrs) -> Result<Settings, Error> {
        for (name, value) in config {
            if value.contains_unknown() {
                return Err(Error::Invalid(format!("`{name}` must be known before apply")));
            }
        }
        let region = setting(config, "region")?.unwrap_or_else(|| DEFAULT_REGION.to_owned());
        check_region(&region).map_err(|message| Error::Invalid(format!("`region` {message}")))?;

        let endpoint = setting(config, "endpoint")?;
        if let Some(endpoint) = &endpoint {
            check_endpoint(endpoint)?;
        }

        let credentials = match (setting(config, "access_key")?, setting(config, "secret_key")?) {
            (Some(access_key), Some(secret_key)) => Some((access_key, secret_key)),
            (None, None) => None,
            (Some(_), None) => return Err(Error::Invalid("`access_key` is set but `secret_key` is not; set both or neither".into())),
            (None, Some(_)) => return Err(Error::Invalid("`secret_key` is set but `access_key` is not; set both or neither".into())),
        };
        Ok(Settings {
            region,
            endpoint,
            credentials,
        })
    }

    /// Returns true when the endpoint override points at this machine.
    pub fn endpoint_is_loopback(&self) -> bool {
        self.endpoint.as_deref().is_some_and(is_loopback_url)
    }
}

/// Reads an optional string setting; an empty string counts as unset.
fn setting(config: &Attrs, name: &str) -> Result<Option<String>, Error> {
    match config.get(name).map(Value::unmarked) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.to_string())),
        Some(other) => Err(Error::Invalid(format!("`{name}` must be a string, found {}", other.type_name()))),
    }
}

fn check_endpoint(endpoint: &str) -> Result<(), Error> {
    let url = url::Url::parse(endpoint)
        .map_err(|error| Error::Invalid(format!("`endpoint` {endpoint:?} is not a valid URL ({error}); use a URL such as http://127.0.0.1:5000")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Invalid(format!(
            "`endpoint` {endpoint:?} must be an http or https URL with a host, such as http://127.0.0.1:5000"
        )));
    }
    Ok(())
}

/// Returns true for an http(s) URL whose host is `localhost` or a loopback
/// address.
pub fn is_loopback_url(endpoint: &str) -> bool {
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// EC2 clients by region, built on first use from one shared configuration.
pub struct Clients {
    base: SdkConfig,
    default_region: String,
    by_region: Mutex<HashMap<String, aws_sdk_ec2::Client>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Clients")
            .field("default_region", &self.default_region)
            .finish_non_exhaustive()
    }
}

impl Clients {
    /// Loads the shared configuration: static credentials when the settings
    /// have them, otherwise a credential chain.
    ///
    /// With an endpoint on a loopback address the chain is only the
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` variables, so no
    /// request leaves the machine. It skips the instance metadata service
    /// (IMDS), the container credential endpoint, web identity tokens and
    /// profiles. Otherwise it is aws-config's default chain.
    pub async fn load(settings: &Settings) -> Clients {
        let region = Region::new(settings.region.clone());
        let credentials = match (&settings.credentials, settings.endpoint_is_loopback()) {
            (Some((access_key, secret_key)), _) => SharedCredentialsProvider::new(Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "tenancy provider block",
            )),
            (None, true) => SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()),
            (None, false) => SharedCredentialsProvider::new(
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(region.clone())
                    .build()
                    .await,
            ),
        };
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .timeout_config(timeouts);
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        Clients {
            base: loader.load().await,
            default_region: settings.region.clone(),
            by_region: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the region of resources that do not set one.
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// Returns the EC2 client of a region, building it on first use.
    pub fn client(&self, region: &str) -> aws_sdk_ec2::Client {
        let mut clients = self.by_region.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_ec2::config::Builder::from(&self.base)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_ec2::Client::from_conf(config)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    #[test]
    fn empty_block_uses_default_region() {
        let settings = Settings::from_attrs(&Attrs::new()).unwrap();

        assert_eq!(settings.region, DEFAULT_REGION);
        assert_eq!(settings.endpoint, None);
        assert!(settings.credentials.is_none());
    }

    #[test]
    fn access_key_without_secret_is_rejected() {
        let error = Settings::from_attrs(&config(&[("access_key", "AKIA".into())])).unwrap_err();

        assert!(error.to_string().contains("`secret_key`"), "{error}");
    }

    #[test]
    fn malformed_endpoint_is_rejected() {
        let error = Settings::from_attrs(&config(&[("endpoint", "127.0.0.1:5000".into())])).unwrap_err();

        assert!(error.to_string().contains("http://127.0.0.1:5000"), "{error}");
    }

    #[test]
    fn invalid_region_is_rejected() {
        let error = Settings::from_attrs(&config(&[("region", "Frankfurt".into())])).unwrap_err();

        assert!(error.to_string().contains("Frankfurt"), "{error}");
    }

    #[test]
    fn loopback_endpoints_are_recognised() {
        assert!(is_loopback_url("http://127.0.0.1:5000"));
        assert!(is_loopback_url("http://localhost:5000"));
        assert!(is_loopback_url("http://[::1]:5000"));
        assert!(!is_loopback_url("https://ec2.us-east-1.amazonaws.com"));
        assert!(!is_loopback_url("http://10.0.0.1:5000"));
    }

    #[test]
    fn debug_hides_credentials() {
        let settings = Settings::from_attrs(&config(&[
            ("access_key", "AKIAEXAMPLE".into()),
            ("secret_key", Value::sensitive("hunter2".into())),
        ]))
        .unwrap();

        let text = format!("{settings:?}");

        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("AKIAEXAMPLE"), "{text}");
    }
}
