//! The `provider "sqlite"` block: where the catalog and the tenant
//! databases live, and how durable catalog commits are.

use std::path::{Path, PathBuf};

use tenancy_sdk::{Attrs, ProviderContext, Value};

use crate::attrs::quote_list;
use crate::catalog::{PROVIDER_SUBJECT, Synchronous};
use crate::error::{Result, SqliteError};

/// The catalog file used when the block sets no `catalog_path`.
pub const DEFAULT_CATALOG_PATH: &str = ".tenancy/catalog.db";

/// The directory of tenant databases used when the block sets no `data_dir`.
pub const DEFAULT_DATA_DIR: &str = ".tenancy/databases";

/// The attributes the provider block accepts; `alias` belongs to the engine.
const ACCEPTED: [&str; 4] = ["catalog_path", "data_dir", "synchronous", "alias"];

/// The provider block after validation, with absolute paths.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// The catalog file.
    pub catalog_path: PathBuf,
    /// The directory that holds one `<tenant_id>.db` file per tenant.
    pub data_dir: PathBuf,
    /// The catalog's `synchronous` setting.
    pub synchronous: Synchronous,
}

/// Validates the provider block and resolves its paths against the
/// configuration directory.
pub fn parse(config: &Attrs, context: &ProviderContext) -> Result<ProviderSettings> {
    if let Some(unknown) = config.keys().find(|key| !ACCEPTED.contains(&key.as_str())) {
        return Err(SqliteError::invalid(
            PROVIDER_SUBJECT,
            format!(
                "unknown attribute `{unknown}`; the block accepts {}",
                quote_list(&ACCEPTED[..3])
            ),
        ));
    }
    let catalog_path = path_setting(config, "catalog_path", DEFAULT_CATALOG_PATH)?;
    let data_dir = path_setting(config, "data_dir", DEFAULT_DATA_DIR)?;
    let synchronous = match string_setting(config, "synchronous")? {
        None => Synchronous::Normal,
        Some(text) => Synchronous::parse(&text).ok_or_else(|| {
            SqliteError::invalid(
                PROVIDER_SUBJECT,
                format!("attribute `synchronous` is `{text}`, but it must be `normal` or `full`"),
            )
        })?,
    };
    Ok(ProviderSettings {
        catalog_path: resolve(&context.working_dir, &catalog_path)?,
        data_dir: resolve(&context.working_dir, &data_dir)?,
        synchronous,
    })
}

fn string_setting(config: &Attrs, name: &str) -> Result<Option<String>> {
    match config.get(name).map(Value::unmarked) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.to_string())),
        Some(other) => Err(SqliteError::invalid(
            PROVIDER_SUBJECT,
            format!(
                "attribute `{name}` must be a string, but it is a {}",
                other.type_name()
            ),
        )),
    }
}

fn path_setting(config: &Attrs, name: &str, default: &str) -> Result<PathBuf> {
    let text = string_setting(config, name)?.unwrap_or_else(|| default.to_owned());
    if text.trim().is_empty() {
        return Err(SqliteError::invalid(
            PROVIDER_SUBJECT,
            format!("attribute `{name}` is empty; set a path or leave it out for `{default}`"),
        ));
    }
    Ok(PathBuf::from(text))
}

fn resolve(working_dir: &Path, path: &Path) -> Result<PathBuf> {
    let joined = working_dir.join(path);
    std::path::absolute(&joined)
        .map_err(|error| SqliteError::io(PROVIDER_SUBJECT, "resolve the path", joined, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(dir: &str) -> ProviderContext {
        ProviderContext {
            working_dir: PathBuf::from(dir),
            instance: "sqlite".to_owned(),
        }
    }

    #[test]
    fn defaults_resolve_against_working_dir() {
        let settings = parse(&Attrs::new(), &context("/srv/config")).unwrap();

        assert_eq!(
            settings.catalog_path,
            PathBuf::from("/srv/config/.tenancy/catalog.db")
        );
        assert_eq!(
            settings.data_dir,
            PathBuf::from("/srv/config/.tenancy/databases")
        );
        assert_eq!(settings.synchronous, Synchronous::Normal);
    }

    #[test]
    fn absolute_path_is_kept() {
        let mut config = Attrs::new();
        config.insert("data_dir".to_owned(), Value::string("/var/lib/tenants"));

        let settings = parse(&config, &context("/srv/config")).unwrap();

        assert_eq!(settings.data_dir, PathBuf::from("/var/lib/tenants"));
    }

    #[test]
    fn unknown_attribute_is_rejected() {
        let mut config = Attrs::new();
        config.insert("catalog_pth".to_owned(), Value::string("x.db"));

        let error = parse(&config, &context("/srv")).unwrap_err();

        assert!(
            error
                .to_string()
                .contains("unknown attribute `catalog_pth`")
        );
    }

    #[test]
    fn synchronous_must_be_known_value() {
        let mut config = Attrs::new();
        config.insert("synchronous".to_owned(), Value::string("off"));

        assert!(parse(&config, &context("/srv")).is_err());
    }
}
