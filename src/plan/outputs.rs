//! Output values: evaluated against planned attributes, compared with the
//! values recorded in state.

use std::collections::{BTreeMap, HashMap};

use tenancy_sdk::{Attrs, Value};

use crate::config::{ComponentKind, Config};
use crate::lang::{self, Diagnostics};
use crate::lower::Desired;
use crate::plan::model::{Action, OutputChange, ResourceChange};
use crate::plan::refresh::same_value;
use crate::state::State;

/// Plans every output: its new value (unknown where it depends on values
/// known only after apply) and the action against the recorded value.
pub fn plan_outputs(
    config: &Config,
    desired: &Desired,
    changes: &[ResourceChange],
    state: &State,
) -> Result<Vec<OutputChange>, Diagnostics> {
    let tenants = if outputs_read_tenants(config) {
        let mut attrs_by_address: HashMap<&str, &Attrs> = state
            .resources
            .iter()
            .map(|(address, resource)| (address.as_str(), &resource.attrs))
            .collect();
        for change in changes {
            if let Some(after) = &change.after {
                attrs_by_address.insert(change.address.as_str(), after);
            }
        }
        tenant_tree(config, desired, &attrs_by_address)
    } else {
        Value::map(BTreeMap::new())
    };
    let values = lang::evaluate_outputs(config, &tenants)?;

    let mut outputs: Vec<OutputChange> = values
        .into_iter()
        .map(|(name, after)| {
            let declared = config.outputs.iter().find(|output| output.name == name);
            let sensitive = declared.is_some_and(|output| output.sensitive) || after.contains_sensitive();
            let before = state.outputs.get(&name).map(|recorded| recorded.value.clone());
            let action = match &before {
                None => Action::Create,
                Some(before) if same_value(before, &after) && !after.contains_unknown() => Action::NoOp,
                Some(_) => Action::Update,
            };
            OutputChange {
                name,
                action,
                before,
                after: Some(after),
                sensitive,
            }
        })
        .collect();
    for (name, recorded) in &state.outputs {
        if !outputs.iter().any(|output| &output.name == name) {
            outputs.push(OutputChange {
                name: name.clone(),
                action: Action::Delete,
                before: Some(recorded.value.clone()),
                after: None,
                sensitive: recorded.sensitive,
            });
        }
    }
    outputs.sort_by(|left, right| left.name.cmp(&right.name));
    Ok(outputs)
}

/// Returns true when some output expression refers to `tenant`, the only
/// case that needs the tenant tree, whose cost grows with every resource.
pub fn outputs_read_tenants(config: &Config) -> bool {
    config
        .outputs
        .iter()
        .any(|output| lang::eval::refs::references(&output.value).iter().any(|reference| reference.root == "tenant"))
}

/// Plans the removal of every recorded output, for `destroy`.
pub fn destroy_outputs(state: &State) -> Vec<OutputChange> {
    state
        .outputs
        .iter()
        .map(|(name, recorded)| OutputChange {
            name: name.clone(),
            action: Action::Delete,
            before: Some(recorded.value.clone()),
            after: None,
            sensitive: recorded.sensitive,
        })
        .collect()
}

/// Builds the value bound to `tenant` in output expressions: tenant label to
/// object (or, under `for_each`, label to key to object). Each object has the
/// catalog entry's attributes, `id`, `subscription`, `monitoring`, and
/// `database`, `storage` and `network` maps from block label to attributes.
pub fn tenant_tree(config: &Config, desired: &Desired, attrs_by_address: &HashMap<&str, &Attrs>) -> Value {
    let mut tree: BTreeMap<String, Value> = BTreeMap::new();
    for tenant in &config.tenants {
        let address = tenant.address();
        let mut object: BTreeMap<String, Value> = match attrs_by_address.get(address.as_str()) {
            Some(attrs) => (*attrs).clone().into_map(),
            None => BTreeMap::new(),
        };
        object.insert("id".to_owned(), Value::string(&tenant.id));
        for (name, value) in &tenant.attrs {
            object.entry(name.to_string()).or_insert_with(|| value.clone());
        }
        let owned = |suffix: &str| {
            attrs_by_address
                .get(format!("{address}.{suffix}").as_str())
                .map_or(Value::Unknown, |attrs| Value::map((*attrs).clone().into_map()))
        };
        object.insert("subscription".to_owned(), owned("subscription"));
        let mut groups: BTreeMap<&str, BTreeMap<String, Value>> = BTreeMap::new();
        for component in &tenant.components {
            if component.kind == ComponentKind::Monitoring {
                object.insert("monitoring".to_owned(), owned("monitoring"));
                continue;
            }
            let suffix = format!("{}.{}", component.kind.keyword(), component.label);
            let value = if desired.contains(&format!("{address}.{suffix}")) {
                owned(&suffix)
            } else {
                Value::Null
            };
            groups.entry(component.kind.keyword()).or_default().insert(component.label.clone(), value);
        }
        for keyword in ["database", "storage", "network"] {
            let group = groups.remove(keyword).unwrap_or_default();
            object.insert(keyword.to_owned(), Value::map(group));
        }

        let object = Value::map(object);
        match &tenant.key {
            None => {
                tree.insert(tenant.name.clone(), object);
            }
            Some(key) => {
                let entry = tree.entry(tenant.name.clone()).or_insert_with(|| Value::map(BTreeMap::new()));
                if let Value::Map(instances) = entry {
                    instances.insert(key.clone(), object);
                }
            }
        }
    }
    Value::map(tree)
}
