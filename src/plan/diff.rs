//! Diff: compares desired resources with refreshed state and chooses an
//! action for each.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tenancy_sdk::{Attrs, Value};

use crate::lower::Desired;
use crate::plan::model::{Action, ActionReason, AttrRef, PlanMode, ResourceChange};
use crate::plan::refresh::same_attrs;
use crate::registry::{Instance, Registry};
use crate::state::ResourceState;

/// Options that narrow or force parts of a plan.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Plan only these addresses, what they own and what they depend on.
    pub targets: Vec<String>,
    /// Replace these addresses even if nothing changed.
    pub replace: Vec<String>,
}

/// A provider's refusal to plan one resource.
#[derive(Debug, thiserror::Error)]
#[error("failed to plan `{address}`: {message}")]
pub struct DiffError {
    /// The resource address.
    pub address: String,
    /// The provider's message.
    pub message: String,
}

/// Returns one change per resource of `desired` and `current`, sorted by
/// address.
pub fn diff(
    mode: PlanMode,
    desired: &Desired,
    current: &BTreeMap<String, ResourceState>,
    registry: &Registry,
    options: &DiffOptions,
) -> Result<Vec<ResourceChange>, Vec<DiffError>> {
    let selected = select_targets(mode, desired, current, &options.targets);
    let replace: HashSet<&str> = options.replace.iter().map(String::as_str).collect();
    let mut changes = Vec::with_capacity(desired.resources.len() + 1);
    let mut errors = Vec::new();
    let mut planned_at: HashMap<&str, usize> = HashMap::new();

    if mode == PlanMode::Normal {
        let has_refs = desired.resources.iter().any(|resource| !resource.refs.is_empty());
        // Resources of one provider instance come in runs, so the last
        // instance found usually serves the next resource as well.
        let mut last_instance: Option<(&str, Option<&Instance>)> = None;
        for resource in &desired.resources {
            if !selected.as_ref().is_none_or(|set| set.contains(resource.address.as_str())) {
                continue;
            }
            let prior = current.get(&resource.address);
            let config = if resource.refs.is_empty() {
                Cow::Borrowed(&resource.config)
            } else {
                Cow::Owned(resolve_refs(&resource.config, &resource.refs, &changes, &planned_at, current))
            };
            let instance = match last_instance {
                Some((name, instance)) if name == resource.provider => instance,
                _ => {
                    let instance = registry.get(&resource.provider);
                    last_instance = Some((resource.provider.as_str(), instance));
                    instance
                }
            };
            let Some(instance) = instance else {
                errors.push(DiffError {
                    address: resource.address.clone(),
                    message: format!("provider `{}` is not configured", resource.provider),
                });
                continue;
            };
            let planned = instance
                .provider
                .plan(&resource.type_name, prior.map(|prior| &prior.attrs), &config);
            let planned = match planned {
                Ok(planned) => planned,
                Err(error) => {
                    errors.push(DiffError {
                        address: resource.address.clone(),
                        message: error.message,
                    });
                    continue;
                }
            };
            let forced = replace.contains(resource.address.as_str());
            if has_refs {
                planned_at.insert(resource.address.as_str(), changes.len());
            }
            let (action, reason) = choose_action(prior, &planned.planned, &planned.requires_replace, forced);
            changes.push(ResourceChange {
                address: resource.address.clone(),
                type_name: resource.type_name.clone(),
                provider: resource.provider.clone(),
                action,
                reason,
                before: prior.map(|prior| prior.attrs.clone()),
                after: Some(planned.planned),
                replace_paths: planned.requires_replace,
                depends_on: resource.depends_on.clone(),
                tenant: resource.tenant.clone(),
                refs: resource.refs.clone(),
                prior_depends_on: prior
                    .map(|prior| {
                        prior
                            .dependencies
                            .iter()
                            .filter(|dependency| !resource.depends_on.contains(dependency))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }

    for (address, resource) in current {
        let keep = mode == PlanMode::Normal && desired.index.contains_key(address);
        let in_scope = selected.as_ref().is_none_or(|set| set.contains(address.as_str()));
        if keep || !in_scope {
            continue;
        }
        let reason = match mode {
            PlanMode::Normal => ActionReason::DeleteBecauseNoResource,
            PlanMode::Destroy => ActionReason::DeleteBecauseDestroy,
        };
        changes.push(ResourceChange {
            address: address.clone(),
            type_name: resource.type_name.clone(),
            provider: resource.provider.clone(),
            action: Action::Delete,
            reason: Some(reason),
            before: Some(resource.attrs.clone()),
            after: None,
            replace_paths: Vec::new(),
            depends_on: resource.dependencies.clone(),
            tenant: owning_tenant(address),
            refs: Vec::new(),
            prior_depends_on: Vec::new(),
        });
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    // Addresses are unique, so an unstable sort gives the same order.
    changes.sort_unstable_by(|left, right| left.address.cmp(&right.address));
    Ok(changes)
}

/// Fills attributes that come from other resources: the planned value when
/// the other resource keeps it (no-op or update), the recorded value when it
/// is outside the plan, and unknown when it is created or replaced.
fn resolve_refs(
    config: &Attrs,
    refs: &[AttrRef],
    changes: &[ResourceChange],
    planned_at: &HashMap<&str, usize>,
    current: &BTreeMap<String, ResourceState>,
) -> Attrs {
    let mut config = config.clone();
    for reference in refs {
        let value = match planned_at.get(reference.from.as_str()).map(|&index| &changes[index]) {
            Some(change) if matches!(change.action, Action::NoOp | Action::Update) => change
                .after
                .as_ref()
                .and_then(|after| after.get(&reference.from_attr))
                .cloned()
                .unwrap_or(Value::Unknown),
            Some(_) => Value::Unknown,
            None => current
                .get(&reference.from)
                .and_then(|resource| resource.attrs.get(&reference.from_attr))
                .cloned()
                .unwrap_or(Value::Unknown),
        };
        config.insert(reference.attr.clone(), value);
    }
    config
}

fn choose_action(
    prior: Option<&ResourceState>,
    planned: &Attrs,
    requires_replace: &[String],
    forced: bool,
) -> (Action, Option<ActionReason>) {
    let Some(prior) = prior else {
        return (Action::Create, None);
    };
    if forced {
        return (Action::Replace, Some(ActionReason::ReplaceByRequest));
    }
    if !requires_replace.is_empty() {
        return (Action::Replace, Some(ActionReason::ReplaceBecauseAttribute));
    }
    let unchanged = same_attrs(&prior.attrs, planned) && !planned.values().any(Value::contains_unknown);
    if unchanged {
        (Action::NoOp, None)
    } else {
        (Action::Update, None)
    }
}

/// Returns the tenant address that owns an address: `tenant.acme` for
/// `tenant.acme.database.sqlite`.
pub fn owning_tenant(address: &str) -> Option<String> {
    let rest = address.strip_prefix("tenant.")?;
    let name_end = rest.find(['.', '[']).unwrap_or(rest.len());
    let mut end = "tenant.".len() + name_end;
    if address[end..].starts_with('[') {
        end += address[end..].find(']')? + 1;
    }
    Some(address[..end].to_owned())
}

/// Returns true when `address` is `target` or something `target` owns.
pub fn is_within(address: &str, target: &str) -> bool {
    address == target
        || address
            .strip_prefix(target)
            .is_some_and(|rest| rest.starts_with('.') || (rest.starts_with('[') && !target.ends_with(']')))
}

/// Resolves `-target` addresses to the set of addresses to plan: each
/// target and everything it owns, plus everything those depend on in a
/// normal plan, or everything that depends on them in a destroy plan (a
/// destroy of a tenant never takes its tier with it).
fn select_targets<'a>(
    mode: PlanMode,
    desired: &'a Desired,
    current: &'a BTreeMap<String, ResourceState>,
    targets: &[String],
) -> Option<HashSet<&'a str>> {
    if targets.is_empty() {
        return None;
    }
    let all: BTreeSet<&str> = desired
        .resources
        .iter()
        .map(|resource| resource.address.as_str())
        .chain(current.keys().map(String::as_str))
        .collect();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    if mode == PlanMode::Destroy {
        for resource in current.values() {
            for dependency in &resource.dependencies {
                dependents.entry(dependency.as_str()).or_default().push(resource.address.as_str());
            }
        }
    }
    let mut selected = HashSet::new();
    let mut pending: Vec<&str> = all
        .iter()
        .copied()
        .filter(|address| targets.iter().any(|target| is_within(address, target)))
        .collect();
    while let Some(address) = pending.pop() {
        if !selected.insert(address) {
            continue;
        }
        match mode {
            PlanMode::Normal => {
                if let Some(resource) = desired.get(address) {
                    pending.extend(resource.depends_on.iter().map(String::as_str));
                }
            }
            PlanMode::Destroy => {
                pending.extend(dependents.get(address).into_iter().flatten().copied());
            }
        }
    }
    Some(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owning_tenant_of_nested_address() {
        assert_eq!(owning_tenant("tenant.acme.database.sqlite").as_deref(), Some("tenant.acme"));
        assert_eq!(owning_tenant("tenant.acme").as_deref(), Some("tenant.acme"));
        assert_eq!(
            owning_tenant("tenant.studios[\"berlin\"].subscription").as_deref(),
            Some("tenant.studios[\"berlin\"]")
        );
        assert_eq!(owning_tenant("tier.pro"), None);
    }

    #[test]
    fn within_covers_owned_addresses_only() {
        assert!(is_within("tenant.acme.database.sqlite", "tenant.acme"));
        assert!(is_within("tenant.studios[\"berlin\"]", "tenant.studios"));
        assert!(!is_within("tenant.acme2", "tenant.acme"));
        assert!(!is_within("tenant.studios[\"b\"]", "tenant.studios[\"a\"]"));
    }
}
