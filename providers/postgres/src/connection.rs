//! Connections to the managed server: one connection per operation and
//! database, opened from the provider's `url` with the database swapped in.
//!
//! A tenant's objects live in several databases (the maintenance database
//! from the URL for roles, the tenant's own database, a shared database), and
//! PostgreSQL binds a connection to one database, so the provider opens a
//! short-lived connection per database it needs rather than keeping a pool.

use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{Error, Result};

/// How long opening a connection may take when the URL sets no
/// `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server the provider manages, as parsed from the provider's `url`.
#[derive(Clone)]
pub struct Server {
    config: Config,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Server").field("target", &self.target(None)).finish()
    }
}

impl Server {
    /// Parses a connection URL or key-value string. The error never repeats
    /// the URL, which may hold a password.
    pub fn parse(url: &str) -> Result<Server> {
        let mut config: Config = url.parse().map_err(|error: tokio_postgres::Error| {
            Error::Invalid(format!("provider `url` is not a valid PostgreSQL connection string: {error}"))
        })?;
        if config.get_hosts().is_empty() {
            return Err(Error::Invalid(
                "provider `url` names no host; write it as postgres://USER@HOST:PORT/DATABASE".into(),
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(Server { config })
    }

    /// Returns the maintenance database named in the URL, `postgres` when
    /// the URL names none.
    pub fn maintenance_database(&self) -> &str {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
    }

    /// Returns `host:port/database` for messages, without credentials.
    pub fn target(&self, database: Option<&str>) -> String {
        let database = database.unwrap_or_else(|| self.maintenance_database());
        format!("{}:{}/{database}", self.host_text(), self.port())
    }

    /// Opens a connection to the maintenance database.
    pub async fn connect(&self) -> Result<Client> {
        self.connect_to(self.maintenance_database()).await
    }

    /// Opens a connection to the named database; the connection task runs
    /// until the returned client is dropped.
    pub async fn connect_to(&self, database: &str) -> Result<Client> {
        let mut config = self.config.clone();
        config.dbname(database);
        let (client, connection) = config.connect(NoTls).await.map_err(|source| Error::Connect {
            target: self.target(Some(database)),
            source,
        })?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::trace!(%error, "postgres connection ended with an error");
            }
        });
        Ok(client)
    }

    /// Returns the first host as a URL host: a name, an IPv4 address or a
    /// bracketed IPv6 address; `None` for a Unix socket directory.
    pub fn url_host(&self) -> Option<String> {
        match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) if host.contains(':') => Some(format!("[{host}]")),
            Some(Host::Tcp(host)) => Some(host.clone()),
            _ => None,
        }
    }

    /// Returns the Unix socket directory when the first host is one.
    pub fn socket_dir(&self) -> Option<String> {
        match self.config.get_hosts().first() {
            #[cfg(unix)]
            Some(Host::Unix(path)) => Some(path.display().to_string()),
            _ => None,
        }
    }

    /// Returns the first port, 5432 when the URL sets none.
    pub fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    fn host_text(&self) -> String {
        self.url_host()
            .or_else(|| self.socket_dir())
            .unwrap_or_else(|| "localhost".into())
    }
}

/// Percent-encodes a URL query value, keeping unreserved characters.
pub fn encode_query_value(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_host_port_and_database() {
        let server = Server::parse("postgres://admin:secret@127.0.0.1:5433/ops").unwrap();

        assert_eq!(server.url_host().as_deref(), Some("127.0.0.1"));
        assert_eq!(server.port(), 5433);
        assert_eq!(server.maintenance_database(), "ops");
        assert_eq!(server.target(None), "127.0.0.1:5433/ops");
    }

    #[test]
    fn debug_output_hides_password() {
        let server = Server::parse("postgres://admin:secret@127.0.0.1/ops").unwrap();

        assert!(!format!("{server:?}").contains("secret"));
    }

    #[test]
    fn parse_error_hides_password() {
        let error = Server::parse("postgres://admin:secret@127.0.0.1:notaport/ops").unwrap_err();

        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("-csearch_path=tenant_a"), "-csearch_path%3Dtenant_a");
        assert_eq!(encode_query_value("/run/postgresql"), "%2Frun%2Fpostgresql");
    }
}
