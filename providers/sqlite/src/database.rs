//! `sqlite_database`: a tenant's database file together with its row in the
//! catalog's `database_files` table.
//!
//! A create or update first provisions the file, then writes the row, so
//! the catalog never points applications at a file that does not exist yet.
//! A delete removes the row first and the file after, for the same reason.
//!
//! The file of a tenant is always `DATA_DIR/<tenant_id>.db` under the
//! configured `data_dir`. A path recorded in the catalog or in state is never
//! trusted as a place to read, move or remove a file: a catalog copied from
//! another directory records that directory's files, and touching them would
//! change another configuration's tenants.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tenancy_sdk::{Attrs, Operation, ProviderError, ProviderResult, Value};

use crate::attrs::{Input, attrs_from, real_value, validate_tenant_id};
use crate::error::{Result, SqliteError};
use crate::provider::Configured;
use crate::tables::database::Databases;
use crate::tables::{self, CatalogTable};
use crate::tenant_file::{self, FileSettings};

/// How many files left at a recorded path one provider instance warns about;
/// the rest are logged at debug level, so a copied catalog of many tenants
/// does not flood the terminal.
const MAX_LEFT_BEHIND_WARNINGS: usize = 3;

/// Returns the file of a tenant's database: `DATA_DIR/<tenant_id>.db`.
pub fn file_path(data_dir: &Path, tenant_id: &str) -> PathBuf {
    data_dir.join(format!("{tenant_id}.db"))
}

/// Returns the URL applications connect with: `sqlite://` and the path.
pub fn url_for(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    subject: &str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| SqliteError::Worker {
            subject: subject.to_owned(),
            message: error.to_string(),
        })?
}

/// Applies one operation to a tenant database.
pub async fn apply(
    configured: &Arc<Configured>,
    address: &str,
    operation: Operation<'_>,
) -> Result<Option<Attrs>> {
    match operation {
        Operation::Create { planned } => write(configured, address, None, planned).await.map(Some),
        Operation::Update { prior, planned } => write(configured, address, Some(prior), planned)
            .await
            .map(Some),
        Operation::Delete { prior } => delete(configured, address, prior).await.map(|()| None),
    }
}

async fn write(
    configured: &Arc<Configured>,
    address: &str,
    prior: Option<&Attrs>,
    planned: &Attrs,
) -> Result<Attrs> {
    let tenant_id = Input::new(address, planned).tenant_id("tenant_id")?;
    let path = file_path(&configured.data_dir, &tenant_id);
    let mut located = planned.clone();
    located.insert("path".to_owned(), Value::String(path.display().to_string()));
    located.insert("url".to_owned(), Value::String(url_for(&path)));
    let row = Databases::parse(&Input::new(address, &located))?;
    let settings = FileSettings {
        journal_mode: row.journal_mode.clone(),
        max_size_mb: row.max_size_mb,
        secure_delete: row.secure_delete,
        audit_logging: row.audit_logging,
    };

    warn_if_left_behind(configured, address, &tenant_id, &path).await?;
    let subject = address.to_owned();
    let file = blocking(address, move || {
        tenant_file::provision(&subject, &path, &tenant_id, &settings)
    })
    .await?;

    let subject = address.to_owned();
    let is_create = prior.is_none();
    let row_attrs = configured
        .catalog
        .write(address, move |connection, catalog_path| {
            if is_create {
                tables::create::<Databases>(connection, catalog_path, &subject, &located)
            } else {
                tables::update::<Databases>(connection, catalog_path, &subject, &located)
            }
        })
        .await?;
    Ok(merge(None, row_attrs, &file))
}

/// Warns when the catalog row that a write replaces records a file at
/// another path that still exists: the write leaves that file where it is,
/// and the user may want to move its data to the new path.
async fn warn_if_left_behind(
    configured: &Arc<Configured>,
    address: &str,
    tenant_id: &str,
    path: &Path,
) -> Result<()> {
    let recorded = recorded_path(configured, address, tenant_id).await?;
    let Some(recorded) = recorded.filter(|recorded| recorded != path) else {
        return Ok(());
    };
    if !recorded.exists() {
        return Ok(());
    }
    let earlier = configured.left_behind.fetch_add(1, Ordering::Relaxed);
    if earlier < MAX_LEFT_BEHIND_WARNINGS {
        tracing::warn!(
            address,
            left = %recorded.display(),
            path = %path.display(),
            "the catalog recorded the tenant database at another path; that file is left in place"
        );
    } else {
        if earlier == MAX_LEFT_BEHIND_WARNINGS {
            tracing::warn!(
                "more tenant databases are left at the paths the catalog recorded; \
                 run with -vv to list them"
            );
        }
        tracing::debug!(
            address,
            left = %recorded.display(),
            path = %path.display(),
            "the catalog recorded the tenant database at another path; that file is left in place"
        );
    }
    Ok(())
}

/// Reads the path that the catalog row of `tenant_id` records, if any.
async fn recorded_path(
    configured: &Arc<Configured>,
    address: &str,
    tenant_id: &str,
) -> Result<Option<PathBuf>> {
    let subject = address.to_owned();
    let key = tenant_id.to_owned();
    let row = configured
        .catalog
        .read(address, move |connection, catalog_path| {
            tables::select_one::<Databases>(connection, &key).map_err(|error| {
                SqliteError::catalog(subject, "read `database_files`", catalog_path, error)
            })
        })
        .await?;
    Ok(row
        .as_ref()
        .and_then(|row| row.get("path"))
        .and_then(Value::as_str)
        .map(PathBuf::from))
}

/// Deletes the catalog row, then the file. The file is removed only when
/// state records it at the path the configured `data_dir` gives, because a
/// file recorded elsewhere belongs to another `data_dir` or another copy of
/// the configuration.
async fn delete(configured: &Arc<Configured>, address: &str, prior: &Attrs) -> Result<()> {
    let tenant_id = Input::new(address, prior).tenant_id("tenant_id")?;
    let expected = file_path(&configured.data_dir, &tenant_id);
    let recorded = prior.get("path").and_then(Value::as_str).map(PathBuf::from);
    let paths = match recorded {
        Some(recorded) if recorded != expected => {
            tracing::debug!(
                address,
                recorded = %recorded.display(),
                expected = %expected.display(),
                "leaving a tenant database outside the configured data_dir in place"
            );
            Vec::new()
        }
        _ => vec![expected],
    };

    let subject = address.to_owned();
    configured
        .catalog
        .write(address, move |connection, catalog_path| {
            tables::delete::<Databases>(connection, catalog_path, &subject, &tenant_id)
        })
        .await?;

    let subject = address.to_owned();
    blocking(address, move || {
        paths
            .iter()
            .try_for_each(|path| tenant_file::remove(&subject, path))
    })
    .await
}

/// Combines the catalog row with the settings read from the file. Where the
/// two copies of a setting disagree, the one that differs from `prior` wins,
/// so a hand edit of either shows up as drift.
pub fn merge(prior: Option<&Attrs>, mut row: Attrs, file: &FileSettings) -> Attrs {
    let from_file = [
        ("journal_mode", Value::string(file.journal_mode.clone())),
        ("max_size_mb", real_value(file.max_size_mb)),
        ("secure_delete", Value::Bool(file.secure_delete)),
        ("audit_logging", Value::Bool(file.audit_logging)),
    ];
    for (name, file_value) in from_file {
        let catalog_value = row.get(name).cloned().unwrap_or(Value::Null);
        let prior_value = prior.and_then(|prior| prior.get(name));
        let chosen = if catalog_value != file_value && prior_value == Some(&file_value) {
            catalog_value
        } else {
            file_value
        };
        row.insert(name.to_owned(), chosen);
    }
    row
}

/// Reads many tenant databases: one catalog query for the rows, then each
/// file, spread over a few threads. Returns one result per request, in order.
pub async fn read_many(
    configured: &Arc<Configured>,
    requests: Vec<(String, Attrs)>,
) -> Vec<ProviderResult<Option<Attrs>>> {
    let keys: Vec<String> = requests.iter().map(|(key, _)| key.clone()).collect();
    let rows = configured
        .catalog
        .read("sqlite_database", move |connection, catalog_path| {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            tables::select_many::<Databases>(connection, &keys).map_err(|error| {
                SqliteError::catalog(
                    "sqlite_database",
                    "read `database_files`",
                    catalog_path,
                    error,
                )
            })
        })
        .await;
    let count = requests.len();
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => return vec![Err(ProviderError::from(error)); count],
    };
    let data_dir = configured.data_dir.clone();
    let inspected = blocking("sqlite_database", move || {
        Ok(inspect_all(&data_dir, &requests, &rows))
    })
    .await;
    match inspected {
        Ok(results) => results
            .into_iter()
            .map(|result| result.map_err(ProviderError::from))
            .collect(),
        Err(error) => vec![Err(ProviderError::from(error)); count],
    }
}

/// Inspects the file of every request that has a catalog row, on up to
/// `available_parallelism` threads.
fn inspect_all(
    data_dir: &Path,
    requests: &[(String, Attrs)],
    rows: &HashMap<String, Attrs>,
) -> Vec<Result<Option<Attrs>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .clamp(1, 8);
    let chunk_size = requests.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .chunks(chunk_size)
            .map(|chunk| {
                let handle = scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(key, prior)| inspect_one(data_dir, key, prior, rows))
                        .collect::<Vec<_>>()
                });
                (chunk.len(), handle)
            })
            .collect();

        // A panicked thread still yields one result per request of its
        // chunk, so the results stay aligned with the requests.
        let mut results = Vec::with_capacity(requests.len());
        for (length, handle) in handles {
            match handle.join() {
                Ok(chunk_results) => results.extend(chunk_results),
                Err(_) => results.extend((0..length).map(|_| {
                    Err(SqliteError::Worker {
                        subject: "sqlite_database".to_owned(),
                        message: "a thread that reads tenant database files panicked".to_owned(),
                    })
                })),
            }
        }
        results
    })
}

/// Reads one tenant database at the path the configured `data_dir` gives.
/// A row that records another path reads as missing: the database is not
/// where this configuration keeps it, so the plan creates it there.
fn inspect_one(
    data_dir: &Path,
    key: &str,
    prior: &Attrs,
    rows: &HashMap<String, Attrs>,
) -> Result<Option<Attrs>> {
    let Some(row) = rows.get(key) else {
        return Ok(None);
    };
    let expected = file_path(data_dir, key);
    let recorded = row.get("path").and_then(Value::as_str).map(Path::new);
    if recorded != Some(expected.as_path()) {
        tracing::debug!(
            tenant_id = key,
            recorded = ?recorded,
            expected = %expected.display(),
            "the catalog records the tenant database outside the configured data_dir"
        );
        return Ok(None);
    }
    let subject = format!("sqlite_database `{key}`");
    let Some(file) = tenant_file::inspect(&subject, &expected)? else {
        return Ok(None);
    };
    Ok(Some(merge(Some(prior), row.clone(), &file)))
}

/// Reads an existing tenant database by tenant id so that state can adopt
/// it: from its catalog row and file, or from the file alone. The file is
/// read at the path the configured `data_dir` gives, whatever path the row
/// records.
pub async fn import(configured: &Arc<Configured>, address: &str, tenant_id: &str) -> Result<Attrs> {
    validate_tenant_id(address, tenant_id)?;
    let key = tenant_id.to_owned();
    let row = configured
        .catalog
        .read(address, {
            let subject = address.to_owned();
            move |connection, catalog_path| {
                tables::select_one::<Databases>(connection, &key).map_err(|error| {
                    SqliteError::catalog(subject, "read `database_files`", catalog_path, error)
                })
            }
        })
        .await?;

    let path = file_path(&configured.data_dir, tenant_id);
    let subject = address.to_owned();
    let inspected_path = path.clone();
    let file = blocking(address, move || {
        tenant_file::inspect(&subject, &inspected_path)
    })
    .await?;
    let Some(file) = file else {
        return Err(SqliteError::NotFound {
            subject: address.to_owned(),
            message: format!(
                "no database file for tenant `{tenant_id}` at `{}`",
                path.display()
            ),
        });
    };
    let mut row = row.unwrap_or_else(|| {
        attrs_from([
            ("id", Value::string(tenant_id)),
            ("tenant_id", Value::string(tenant_id)),
            ("encryption_at_rest", Value::Bool(false)),
            ("tls_min_version", Value::Null),
        ])
    });
    // A row that records another path gets the real one, so the next apply
    // rewrites it.
    row.insert("path".to_owned(), Value::String(path.display().to_string()));
    row.insert("url".to_owned(), Value::String(url_for(&path)));
    Ok(merge(None, row, &file))
}
