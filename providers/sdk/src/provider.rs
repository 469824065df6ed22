//! The provider trait: how the engine reads and changes real objects.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::{ProviderError, ProviderResult};
use crate::schema::{AttributeSchema, ResourceSchema};
use crate::attrs::Attrs;
use crate::value::Value;

/// What the engine tells a provider when it configures it.
#[derive(Debug, Clone)]
pub struct ProviderContext {
    /// The configuration directory; relative paths resolve against it.
    pub working_dir: PathBuf,
    /// The provider instance name as written in addresses, such as
    /// `sqlite` or `postgres.eu`.
    pub instance: String,
}

/// One resource to refresh.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// Resource type name.
    pub type_name: String,
    /// The resource's address, for error messages.
    pub address: String,
    /// The attributes recorded in state.
    pub prior: Attrs,
}

/// One resource to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Resource type name.
    pub type_name: String,
    /// The resource's address, for error messages.
    pub address: String,
    /// The provider's id of the existing object.
    pub id: String,
}

/// A change to one resource, as the provider plans it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    /// The attributes the resource will have after apply; computed values
    /// not yet known are [`Value::Unknown`].
    pub planned: Attrs,
    /// Attributes whose change forces a replacement.
    pub requires_replace: Vec<String>,
}

/// One operation of apply, handed to [`Provider::apply`].
#[derive(Debug, Clone)]
pub enum Operation<'a> {
    /// Create the object with the planned attributes.
    Create {
        /// The planned attributes.
        planned: &'a Attrs,
    },
    /// Change the object in place.
    Update {
        /// The attributes recorded in state.
        prior: &'a Attrs,
        /// The planned attributes.
        planned: &'a Attrs,
    },
    /// Delete the object.
    Delete {
        /// The attributes recorded in state.
        prior: &'a Attrs,
    },
}

/// A provider: one system that tenancy manages objects in.
///
/// The engine configures a provider once, then calls it from many tasks at
/// once, up to [`Provider::max_concurrency`] operations at a time.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Returns the provider type name, such as `sqlite`.
    fn type_name(&self) -> &'static str;

    /// Returns the schemas of every resource type the provider manages.
    fn schemas(&self) -> Vec<ResourceSchema>;

    /// Returns how many operations the provider accepts at once.
    fn max_concurrency(&self) -> usize {
        8
    }

    /// Checks the provider block's attributes and connects to the target.
    async fn configure(&mut self, config: &Attrs, context: &ProviderContext) -> ProviderResult<()>;

    /// Reads the current attributes of many resources, in one call where the
    /// target system allows it. Returns one entry per request, in order:
    /// `Ok(None)` when the object no longer exists.
    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>>;

    /// Plans a change from the prior attributes (none for a create) to the
    /// configured ones. The default follows the schema: see [`plan_by_schema`].
    fn plan(
        &self,
        type_name: &str,
        prior: Option<&Attrs>,
        config: &Attrs,
    ) -> ProviderResult<PlannedChange> {
        let schema = self
            .schemas()
            .into_iter()
            .find(|schema| schema.type_name == type_name)
            .ok_or_else(|| {
                ProviderError::invalid(format!("unknown resource type `{type_name}`"))
            })?;
        Ok(plan_by_schema(&schema, prior, config))
    }

    /// Applies one operation and returns the resulting attributes (`None`
    /// after a delete).
    async fn apply(
        &self,
        type_name: &str,
        address: &str,
        operation: Operation<'_>,
    ) -> ProviderResult<Option<Attrs>>;

    /// Reads an existing object by its id so that state can adopt it.
    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs>;
}

/// Plans a change by the schema alone: configured attributes are taken as
/// they are, computed attributes keep their prior value or become unknown on
/// create, sensitive attributes carry the sensitive mark, and a change to a
/// `force_new` attribute requires replacement.
pub fn plan_by_schema(
    schema: &ResourceSchema,
    prior: Option<&Attrs>,
    config: &Attrs,
) -> PlannedChange {
    plan_with_defaults(schema, prior, config, |_| None)
}

/// Plans a change like [`plan_by_schema`], except that an attribute that
/// configuration leaves out or sets to null takes the value `default`
/// returns for its name, when it returns one.
///
/// When every planned value equals the prior one, the planned attributes
/// are the prior set itself, shared rather than copied.
pub fn plan_with_defaults(
    schema: &ResourceSchema,
    prior: Option<&Attrs>,
    config: &Attrs,
    default: impl Fn(&str) -> Option<Value>,
) -> PlannedChange {
    if let Some(prior) = prior {
        if keeps_prior(schema, prior, config, &default) {
            return PlannedChange {
                planned: prior.clone(),
                requires_replace: Vec::new(),
            };
        }
    }

    let mut entries = Vec::with_capacity(schema.attributes.len());
    let mut requires_replace = Vec::new();
    for attribute in &schema.attributes {
        let name = attribute.name;
        let configured = config.get(name).filter(|value| !value.is_null());
        let prior_value = prior.and_then(|prior| prior.get(name));

        let value = match configured {
            Some(value) => value.clone(),
            None => default(name).unwrap_or_else(|| match prior_value {
                Some(previous) if attribute.computed => previous.clone(),
                None if attribute.computed => Value::Unknown,
                _ => Value::Null,
            }),
        };
        let value = if attribute.sensitive && !value.is_null() {
            Value::sensitive(value)
        } else {
            value
        };

        if attribute.force_new {
            if let Some(previous) = prior_value {
                // An unknown value (an id of a resource being replaced) may
                // differ from the prior one, so it forces replacement too.
                if !previous.eq_unmarked(&value) {
                    requires_replace.push(name.to_owned());
                }
            }
        }
        entries.push((name.to_owned(), value));
    }
    // Collecting sorts the entries and builds the map in one pass, which is
    // cheaper than inserting them one by one in schema order.
    let mut planned: Attrs = entries.into_iter().collect();

    if !requires_replace.is_empty() {
        for attribute in schema
            .attributes
            .iter()
            .filter(|attribute| attribute.is_computed_only())
        {
            planned.insert(attribute.name.to_owned(), Value::Unknown);
        }
    }
    PlannedChange {
        planned,
        requires_replace,
    }
}

/// Returns true when [`plan_with_defaults`] would plan exactly `prior`:
/// the same attributes, each with an equal value, sensitive marks included.
fn keeps_prior(
    schema: &ResourceSchema,
    prior: &Attrs,
    config: &Attrs,
    default: &impl Fn(&str) -> Option<Value>,
) -> bool {
    if prior.len() != schema.attributes.len() {
        return false;
    }
    // Both maps are sorted by name, so one walk pairs each prior value with
    // its configured one, where a lookup by name would compare strings
    // down a B-tree twice per attribute.
    let mut configured_entries = config.iter().peekable();
    prior.iter().all(|(name, previous)| {
        let Some(attribute) = schema.attributes.iter().find(|attribute| attribute.name == name) else {
            return false;
        };
        while configured_entries.next_if(|(key, _)| *key < name).is_some() {}
        let configured = configured_entries
            .next_if(|(key, _)| *key == name)
            .map(|(_, value)| value)
            .filter(|value| !value.is_null());
        keeps_prior_value(attribute, previous, configured, default)
    })
}

/// Returns true when the value [`plan_with_defaults`] would plan for
/// `attribute` equals `previous` exactly, sensitive marks included.
fn keeps_prior_value(
    attribute: &AttributeSchema,
    previous: &Value,
    configured: Option<&Value>,
    default: &impl Fn(&str) -> Option<Value>,
) -> bool {
    let equals_planned = |value: &Value| {
        let marked = attribute.sensitive && !value.is_null() && !value.is_sensitive();
        if marked {
            matches!(previous, Value::Sensitive(inner) if **inner == *value)
        } else {
            value == previous
        }
    };
    match configured {
        Some(value) => equals_planned(value),
        None => match default(attribute.name) {
            Some(value) => equals_planned(&value),
            None if attribute.computed => equals_planned(previous),
            None => *previous == Value::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AttrType, AttributeSchema};

    fn schema() -> ResourceSchema {
        ResourceSchema {
            type_name: "example",
            description: "An example.",
            attributes: vec![
                AttributeSchema::computed("id", AttrType::String, "Identifier."),
                AttributeSchema::required("name", AttrType::String, "Name.").force_new(),
                AttributeSchema::optional("size", AttrType::Number, "Size."),
                AttributeSchema::computed("secret", AttrType::String, "Secret.").sensitive(),
            ],
        }
    }

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.clone()))
            .collect()
    }

    #[test]
    fn create_marks_computed_unknown() {
        let change = plan_by_schema(&schema(), None, &attrs(&[("name", "a".into())]));

        assert_eq!(change.planned["id"], Value::Unknown);
        assert_eq!(change.planned["secret"], Value::sensitive(Value::Unknown));
        assert!(change.requires_replace.is_empty());
    }

    #[test]
    fn changed_force_new_attribute_requires_replace() {
        let prior = attrs(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("secret", "s".into()),
        ]);

        let change = plan_by_schema(&schema(), Some(&prior), &attrs(&[("name", "b".into())]));

        assert_eq!(change.requires_replace, vec!["name".to_owned()]);
        assert_eq!(change.planned["id"], Value::Unknown);
    }

    #[test]
    fn update_keeps_computed_values() {
        let prior = attrs(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("size", 1i64.into()),
        ]);

        let change = plan_by_schema(
            &schema(),
            Some(&prior),
            &attrs(&[("name", "a".into()), ("size", 2i64.into())]),
        );

        assert_eq!(change.planned["id"], Value::string("1"));
        assert_eq!(change.planned["size"], Value::Number(2.0));
        assert!(change.requires_replace.is_empty());
    }

    #[test]
    fn unchanged_plan_shares_prior() {
        let prior = attrs(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("size", Value::Null),
            ("secret", Value::sensitive("s".into())),
        ]);

        let change = plan_by_schema(&schema(), Some(&prior), &attrs(&[("name", "a".into())]));

        assert!(change.planned.shares_with(&prior));
        assert!(change.requires_replace.is_empty());
    }

    #[test]
    fn unmarked_prior_secret_is_not_shared() {
        let prior = attrs(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("size", Value::Null),
            ("secret", "s".into()),
        ]);

        let change = plan_by_schema(&schema(), Some(&prior), &attrs(&[("name", "a".into())]));

        assert!(!change.planned.shares_with(&prior));
        assert_eq!(change.planned["secret"], Value::sensitive("s".into()));
    }

    #[test]
    fn default_fills_unset_attribute() {
        let default = |name: &str| (name == "size").then_some(Value::Number(8.0));
        let config = attrs(&[("name", "a".into())]);

        let created = plan_with_defaults(&schema(), None, &config, default);
        let prior = attrs(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("size", Value::Number(8.0)),
            ("secret", Value::Null),
        ]);
        let kept = plan_with_defaults(&schema(), Some(&prior), &config, default);
        let configured = attrs(&[("name", "a".into()), ("size", Value::Number(2.0))]);
        let changed = plan_with_defaults(&schema(), Some(&prior), &configured, default);

        assert_eq!(created.planned["size"], Value::Number(8.0));
        assert!(kept.planned.shares_with(&prior));
        assert_eq!(changed.planned["size"], Value::Number(2.0));
        assert!(!changed.planned.shares_with(&prior));
    }

    #[test]
    fn prior_with_extra_attribute_is_not_shared() {
        let prior = attrs(&[
            ("id", "1".into()),
            ("name", "a".into()),
            ("size", Value::Null),
            ("secret", Value::Null),
            ("retired", "x".into()),
        ]);

        let change = plan_by_schema(&schema(), Some(&prior), &attrs(&[("name", "a".into())]));

        assert!(!change.planned.shares_with(&prior));
        assert!(!change.planned.contains_key("retired"));
    }
}
