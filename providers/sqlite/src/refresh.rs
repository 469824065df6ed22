//! Batched refresh: the rows for every request of one resource type are
//! read with one catalog query and matched back to the requests by id.

use std::collections::HashMap;
use std::sync::Arc;

use tenancy_sdk::{Attrs, ProviderError, ProviderResult, ReadRequest, Value};

use crate::database;
use crate::error::SqliteError;
use crate::provider::Configured;
use crate::schemas::ResourceType;
use crate::tables::monitoring::Monitoring;
use crate::tables::security_policy::SecurityPolicies;
use crate::tables::subscription::Subscriptions;
use crate::tables::tenant::Tenants;
use crate::tables::tier::Tiers;
use crate::tables::{self, CatalogTable};

/// Returns the id a read request refers to: the recorded `id`, or the key
/// attribute when state has no `id`.
fn request_key(kind: ResourceType, request: &ReadRequest) -> ProviderResult<String> {
    let recorded = request.prior.get("id").and_then(Value::as_str).or_else(|| {
        request
            .prior
            .get(kind.key_attribute())
            .and_then(Value::as_str)
    });
    recorded.map(str::to_owned).ok_or_else(|| {
        ProviderError::invalid(format!(
            "{}: the recorded state has neither `id` nor `{}`, so the resource cannot be read",
            request.address,
            kind.key_attribute()
        ))
        .with_hint("Import the resource again with `tenancy import`.")
    })
}

/// Returns the recorded attributes by key.
pub fn recorded_by_key(with_prior: &[(String, Attrs)]) -> HashMap<&str, &Attrs> {
    with_prior
        .iter()
        .map(|(key, prior)| (key.as_str(), prior))
        .collect()
}

/// Reads every request, one catalog query per resource type. Returns one
/// result per request, in order.
pub async fn read(
    configured: &Arc<Configured>,
    requests: &[ReadRequest],
) -> Vec<ProviderResult<Option<Attrs>>> {
    let mut results: Vec<Option<ProviderResult<Option<Attrs>>>> = vec![None; requests.len()];
    let mut by_kind: HashMap<ResourceType, Vec<(usize, String)>> = HashMap::new();

    for (index, request) in requests.iter().enumerate() {
        let Some(kind) = ResourceType::parse(&request.type_name) else {
            results[index] = Some(Err(ProviderError::invalid(format!(
                "{}: the sqlite provider has no resource type `{}`",
                request.address, request.type_name
            ))));
            continue;
        };
        match request_key(kind, request) {
            Ok(key) => by_kind.entry(kind).or_default().push((index, key)),
            Err(error) => results[index] = Some(Err(error)),
        }
    }

    // Each resource type is read as its own task, so the catalog's read
    // connections serve several tables at once. Tenant databases start
    // first: after their catalog query each file is checked as well, so
    // they take longest, and the tables fill the other connection.
    let mut by_kind: Vec<(ResourceType, Vec<(usize, String)>)> = by_kind.into_iter().collect();
    by_kind.sort_by_key(|(kind, _)| (*kind != ResourceType::Database, *kind as u8));
    let mut reads = Vec::with_capacity(by_kind.len());
    for (kind, entries) in by_kind {
        let configured = Arc::clone(configured);
        let with_prior: Vec<(String, Attrs)> = entries
            .iter()
            .map(|(index, key)| (key.clone(), requests[*index].prior.clone()))
            .collect();
        let read = tokio::spawn(async move {
            let answers = match kind {
                ResourceType::Tier => read_table::<Tiers>(&configured, &entries, with_prior).await,
                ResourceType::SecurityPolicy => {
                    read_table::<SecurityPolicies>(&configured, &entries, with_prior).await
                }
                ResourceType::Tenant => {
                    read_table::<Tenants>(&configured, &entries, with_prior).await
                }
                ResourceType::Subscription => {
                    read_table::<Subscriptions>(&configured, &entries, with_prior).await
                }
                ResourceType::Monitoring => {
                    read_table::<Monitoring>(&configured, &entries, with_prior).await
                }
                ResourceType::Database => database::read_many(&configured, with_prior).await,
            };
            (entries, answers)
        });
        reads.push(read);
    }
    for read in reads {
        match read.await {
            Ok((entries, answers)) => {
                for ((index, _), answer) in entries.iter().zip(answers) {
                    results[*index] = Some(answer);
                }
            }
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                Err(ProviderError::other(
                    "the sqlite provider returned no result for a read request",
                ))
            })
        })
        .collect()
}

/// Reads the rows of one catalog table for `entries` (request index, key);
/// `with_prior` contains each entry's key and recorded attributes.
async fn read_table<T: CatalogTable + 'static>(
    configured: &Arc<Configured>,
    entries: &[(usize, String)],
    with_prior: Vec<(String, Attrs)>,
) -> Vec<ProviderResult<Option<Attrs>>> {
    let type_name = T::KIND.name();
    let found = configured
        .catalog
        .read(type_name, move |connection, catalog_path| {
            let keys: Vec<&str> = with_prior.iter().map(|(key, _)| key.as_str()).collect();
            let recorded = recorded_by_key(&with_prior);
            tables::select_many::<T>(connection, &keys, &recorded).map_err(|error| {
                SqliteError::catalog(
                    type_name,
                    format!("read `{}`", T::TABLE),
                    catalog_path,
                    error,
                )
            })
        })
        .await;
    match found {
        Ok(mut found) => {
            // Move each row out on its key's last request; earlier requests
            // for the same key get a copy.
            let mut remaining: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
            for (_, key) in entries {
                *remaining.entry(key.as_str()).or_default() += 1;
            }
            let mut answers = Vec::with_capacity(entries.len());
            for (_, key) in entries {
                let left = remaining.get_mut(key.as_str()).map_or(0, |left| {
                    *left -= 1;
                    *left
                });
                let row = if left > 0 {
                    found.get(key).cloned()
                } else {
                    found.remove(key)
                };
                answers.push(Ok(row));
            }
            answers
        }
        Err(error) => vec![Err(ProviderError::from(error)); entries.len()],
    }
}
