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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tenancy_sdk::{Attrs, Operation, ProviderError, ProviderResult, Value};

use crate::attrs::{Input, attrs_from, real_value, set, validate_tenant_id};
use crate::error::{Result, SqliteError};
use crate::fingerprint;
use crate::inspections::{self, Inspection};
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
    let mut name = String::with_capacity(tenant_id.len() + 3);
    name.push_str(tenant_id);
    name.push_str(".db");
    data_dir.join(name)
}

/// Returns the URL applications connect with: `sqlite://` and the path.
pub fn url_for(path: &Path) -> String {
    const SCHEME: &str = "sqlite://";
    match path.to_str() {
        Some(text) => {
            let mut url = String::with_capacity(SCHEME.len() + text.len());
            url.push_str(SCHEME);
            url.push_str(text);
            url
        }
        None => format!("{SCHEME}{}", path.display()),
    }
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
    located.insert("path".to_owned(), Value::string(path.display().to_string()));
    located.insert("url".to_owned(), Value::string(url_for(&path)));
    let row = Databases::parse(&Input::new(address, &located))?;
    let settings = FileSettings {
        journal_mode: row.journal_mode.clone(),
        max_size_mb: row.max_size_mb,
        secure_delete: row.secure_delete,
        audit_logging: row.audit_logging,
    };

    warn_if_left_behind(configured, address, &tenant_id, &path).await?;
    let subject = address.to_owned();
    let provisioned_id = tenant_id.clone();
    let (file, inspection) = blocking(address, move || {
        let file = tenant_file::provision(&subject, &path, &provisioned_id, &settings)?;
        let inspection = inspection_after_write(&subject, &path, &file);
        Ok((file, inspection))
    })
    .await?;

    let subject = address.to_owned();
    let is_create = prior.is_none();
    let row_attrs = configured
        .catalog
        .write(address, move |connection, catalog_path| {
            let row = if is_create {
                tables::create::<Databases>(connection, catalog_path, &subject, &located)
            } else {
                tables::update::<Databases>(connection, catalog_path, &subject, &located)
            }?;
            inspections::record(connection, &tenant_id, inspection.as_ref()).map_err(|error| {
                SqliteError::catalog(
                    subject,
                    "record the file's fingerprint in `_tenancy_file_inspections`",
                    catalog_path,
                    error,
                )
            })?;
            Ok(row)
        })
        .await?;
    Ok(merge(None, row_attrs, &file))
}

/// Pairs the settings that [`tenant_file::provision`] read back with the
/// fingerprint of the file it wrote and closed. Returns `None`, so refresh
/// opens the file with SQLite, when the file has no fingerprint (an
/// application keeps a non-empty `-wal` open) or cannot be read.
fn inspection_after_write(subject: &str, path: &Path, file: &FileSettings) -> Option<Inspection> {
    let fingerprint = match fingerprint::take(path) {
        Ok(fingerprint) => fingerprint?,
        Err(error) => {
            tracing::debug!(
                address = subject,
                path = %path.display(),
                %error,
                "could not take the fingerprint of the tenant database; refresh will open it"
            );
            return None;
        }
    };
    Some(Inspection {
        fingerprint,
        settings: file.clone(),
    })
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
            tables::delete::<Databases>(connection, catalog_path, &subject, &tenant_id)?;
            inspections::forget(connection, &tenant_id).map_err(|error| {
                SqliteError::catalog(
                    subject,
                    "remove the file's fingerprint from `_tenancy_file_inspections`",
                    catalog_path,
                    error,
                )
            })
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
        let catalog_value = row.get(name);
        let prior_value = prior.and_then(|prior| prior.get(name));
        let differs = catalog_value.unwrap_or(&Value::Null) != &file_value;
        let chosen = if differs && prior_value == Some(&file_value) {
            catalog_value.cloned().unwrap_or(Value::Null)
        } else {
            file_value
        };
        set(&mut row, name, chosen);
    }
    row
}

/// Reads many tenant databases: one catalog read for the rows and the
/// recorded inspections, then each file, spread over a few threads. Returns
/// one result per request, in order.
pub async fn read_many(
    configured: &Arc<Configured>,
    requests: Vec<(String, Attrs)>,
) -> Vec<ProviderResult<Option<Attrs>>> {
    let requests = Arc::new(requests);
    let shared = Arc::clone(&requests);
    let recorded = configured
        .catalog
        .read("sqlite_database", move |connection, catalog_path| {
            let keys: Vec<&str> = shared.iter().map(|(key, _)| key.as_str()).collect();
            let priors = crate::refresh::recorded_by_key(&shared);
            let fail = |table: &str| {
                let action = format!("read `{table}`");
                move |error| SqliteError::catalog("sqlite_database", action, catalog_path, error)
            };
            let rows = tables::select_many::<Databases>(connection, &keys, &priors)
                .map_err(fail("database_files"))?;
            // The records only save work: without them (a table dropped by
            // hand, say) every file is opened and read in full.
            let inspections = inspections::select_many(connection, &keys).unwrap_or_else(|error| {
                tracing::warn!(%error, "failed to read `_tenancy_file_inspections`; reading every tenant database file");
                HashMap::new()
            });
            Ok(Recorded { rows, inspections })
        })
        .await;
    let count = requests.len();
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(error) => return vec![Err(ProviderError::from(error)); count],
    };
    let data_dir = configured.data_dir.clone();
    let started = Instant::now();
    let inspected = blocking("sqlite_database", move || {
        Ok(inspect_all(&data_dir, &requests, &recorded))
    })
    .await;
    match inspected {
        Ok((results, opened)) => {
            configured
                .full_inspections
                .fetch_add(opened, Ordering::Relaxed);
            tracing::debug!(
                elapsed = ?started.elapsed(),
                files = count,
                opened,
                "read the tenant database files; those not opened matched their recorded fingerprints"
            );
            results
                .into_iter()
                .map(|result| result.map_err(ProviderError::from))
                .collect()
        }
        Err(error) => vec![Err(ProviderError::from(error)); count],
    }
}

/// The catalog's records of the requested tenant databases.
struct Recorded {
    /// The `database_files` rows by tenant id.
    rows: HashMap<String, Attrs>,
    /// The recorded file inspections by tenant id.
    inspections: HashMap<String, Inspection>,
}

/// Inspects the file of every request that has a catalog row, on up to
/// `available_parallelism` threads. Returns the results and how many files
/// were opened with SQLite.
fn inspect_all(
    data_dir: &Path,
    requests: &[(String, Attrs)],
    recorded: &Recorded,
) -> (Vec<Result<Option<Attrs>>>, usize) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .clamp(1, 8);
    let chunk_size = requests.len().div_ceil(threads).max(1);
    let opened = AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let opened = &opened;
        let handles: Vec<_> = requests
            .chunks(chunk_size)
            .map(|chunk| {
                let handle = scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(key, prior)| inspect_one(data_dir, key, prior, recorded, opened))
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
    });
    (results, opened.into_inner())
}

/// Reads one tenant database at the path the configured `data_dir` gives.
/// A row that records another path reads as missing: the database is not
/// where this configuration keeps it, so the plan creates it there. The
/// file is opened with SQLite only when its fingerprint differs from the
/// recorded one; `opened` counts those files.
fn inspect_one(
    data_dir: &Path,
    key: &str,
    prior: &Attrs,
    recorded: &Recorded,
    opened: &AtomicUsize,
) -> Result<Option<Attrs>> {
    let Some(row) = recorded.rows.get(key) else {
        return Ok(None);
    };
    let expected = file_path(data_dir, key);
    let recorded_path = row.get("path").and_then(Value::as_str).map(Path::new);
    if recorded_path != Some(expected.as_path()) {
        tracing::debug!(
            tenant_id = key,
            recorded = ?recorded_path,
            expected = %expected.display(),
            "the catalog records the tenant database outside the configured data_dir"
        );
        return Ok(None);
    }
    if let Some(settings) = unchanged_settings(&expected, recorded.inspections.get(key)) {
        return Ok(Some(merge(Some(prior), row.clone(), &settings)));
    }
    opened.fetch_add(1, Ordering::Relaxed);
    let subject = format!("sqlite_database `{key}`");
    let Some(file) = tenant_file::inspect(&subject, &expected)? else {
        return Ok(None);
    };
    Ok(Some(merge(Some(prior), row.clone(), &file)))
}

/// Returns the recorded settings of the file at `path` when its current
/// fingerprint is equal to the recorded one. Returns `None`, so the caller
/// opens the file with SQLite, when nothing is recorded, the fingerprint
/// differs, the `-wal` file has content, or the file cannot be read.
fn unchanged_settings(path: &Path, inspection: Option<&Inspection>) -> Option<FileSettings> {
    let inspection = inspection?;
    let current = match fingerprint::take(path) {
        Ok(current) => current?,
        Err(error) => {
            tracing::trace!(path = %path.display(), %error, "could not take the fingerprint");
            return None;
        }
    };
    // NOTE: a change that leaves every fingerprint field alone goes unseen.
    // Rollback mode increments the change counter on every commit, and a
    // schema change moves the schema cookie. A row edit in WAL mode (such
    // as an UPDATE of `_tenancy_settings`) shows only in mtime and ctime
    // once checkpointed. So an edit checkpointed within the same file
    // timestamp tick as apply's fingerprint, that keeps the size, reads as
    // the recorded settings until a later write changes the fingerprint.
    (current == inspection.fingerprint).then(|| inspection.settings.clone())
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
    row.insert("path".to_owned(), Value::string(path.display().to_string()));
    row.insert("url".to_owned(), Value::string(url_for(&path)));
    Ok(merge(None, row, &file))
}
