//! The plan as JSON, in the shape of `terraform show -json` for a plan.
//!
//! Tools written for Terraform's JSON plan read this one: the field names,
//! the action lists, the unknown and sensitive masks and the path arrays of
//! `replace_paths` follow Terraform. One rule differs on purpose. Terraform
//! keeps the data of a sensitive value in `before` and `after` and only marks
//! it in `before_sensitive` and `after_sensitive`. Here the data is replaced
//! by `null` and only the mark remains, because a JSON plan ends up in CI
//! logs and pull-request artifacts. Variables that are or contain sensitive
//! values are left out, as Terraform does. `schemas/plan.schema.json`
//! describes the document.

use std::io::Write;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value as Json, json};
use tenancy_sdk::{Attrs, Value};

use super::path::{address_name_and_index, path_to_json};
use crate::plan::{Action, ActionReason, Drift, OutputChange, Plan, ResourceChange};

/// The version of the JSON plan format, after Terraform's `format_version`.
pub const PLAN_JSON_FORMAT_VERSION: &str = "1.2";

/// Returns the plan as a JSON document in the shape of Terraform's JSON plan,
/// with sensitive values replaced by `null`.
pub fn plan_json(plan: &Plan) -> Json {
    // `to_value` fails only on a map key that is not a string, and the
    // document has none.
    serde_json::to_value(PlanDocument(plan)).unwrap_or_default()
}

/// Writes the document of [`plan_json`] to `out`, pretty-printed and
/// followed by a newline.
///
/// Each resource change becomes JSON just before it is written, so the
/// document is never held whole. For a plan of 100,000 resources it is
/// over 100 MB of text, and several times that as a JSON tree.
pub fn write_plan_json(plan: &Plan, out: &mut dyn Write) -> std::io::Result<()> {
    let mut serializer = serde_json::Serializer::pretty(&mut *out);
    PlanDocument(plan).serialize(&mut serializer)?;
    out.write_all(b"\n")
}

/// The JSON plan, serialized field by field.
struct PlanDocument<'a>(&'a Plan);

impl Serialize for PlanDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let plan = self.0;
        let mut changes: Vec<&ResourceChange> = plan.changes.iter().collect();
        changes.sort_by(|left, right| left.address.cmp(&right.address));
        let mut drifts: Vec<&Drift> = plan.drift.iter().collect();
        drifts.sort_by(|left, right| left.address.cmp(&right.address));

        let mut document = serializer.serialize_map(Some(10))?;
        document.serialize_entry("format_version", PLAN_JSON_FORMAT_VERSION)?;
        document.serialize_entry("tenancy_version", env!("CARGO_PKG_VERSION"))?;
        document.serialize_entry("timestamp", &plan.created_at)?;
        document.serialize_entry("errored", &false)?;
        document.serialize_entry("applyable", &plan.has_changes())?;
        document.serialize_entry("complete", &plan.targets.is_empty())?;
        document.serialize_entry("variables", &variables_json(plan))?;
        document.serialize_entry("resource_drift", &EachAsJson(&drifts, drift_json))?;
        document.serialize_entry("resource_changes", &EachAsJson(&changes, resource_change_json))?;
        document.serialize_entry("output_changes", &outputs_json(&plan.outputs))?;
        document.end()
    }
}

/// A list serialized one item at a time, each turned into JSON by the
/// function just before it is written.
struct EachAsJson<'a, T>(&'a [&'a T], fn(&T) -> Json);

impl<T> Serialize for EachAsJson<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let EachAsJson(items, to_json) = self;
        let mut list = serializer.serialize_seq(Some(items.len()))?;
        for item in items.iter() {
            list.serialize_element(&to_json(item))?;
        }
        list.end()
    }
}

/// Returns the `action_reason` spelling: Terraform's where it has one, and
/// the same style for the reasons Terraform does not record.
pub fn action_reason_name(reason: ActionReason) -> &'static str {
    match reason {
        ActionReason::ReplaceByRequest => "replace_by_request",
        ActionReason::ReplaceBecauseAttribute => "replace_because_cannot_update",
        ActionReason::DeleteBecauseNoResource => "delete_because_no_resource",
        ActionReason::CreateBecauseMissing => "create_because_missing",
        ActionReason::DeleteBecauseDestroy => "delete_because_destroy",
    }
}

fn resource_change_json(change: &ResourceChange) -> Json {
    let mut object = resource_identity(&change.address, &change.type_name, &change.provider);
    if let Some(tenant) = change.tenant() {
        object.insert("tenant".into(), json!(tenant));
    }

    let mut body = change_body(change.action, change.before.as_ref(), change.after.as_ref());
    if !change.replace_paths.is_empty() {
        let paths: Vec<Json> = change
            .replace_paths
            .iter()
            .map(|path| path_to_json(path))
            .collect();
        body.insert("replace_paths".into(), Json::Array(paths));
    }
    object.insert("change".into(), Json::Object(body));

    if let Some(reason) = change.reason {
        object.insert("action_reason".into(), json!(action_reason_name(reason)));
    }
    Json::Object(object)
}

fn drift_json(drift: &Drift) -> Json {
    let mut object = resource_identity(&drift.address, &drift.type_name, &drift.provider);
    let action = if drift.after.is_some() {
        Action::Update
    } else {
        Action::Delete
    };
    let body = change_body(action, Some(&drift.before), drift.after.as_ref());
    object.insert("change".into(), Json::Object(body));
    Json::Object(object)
}

fn resource_identity(address: &str, type_name: &str, provider: &str) -> Map<String, Json> {
    let (name, index) = address_name_and_index(address);
    let mut object = Map::new();
    object.insert("address".into(), json!(address));
    object.insert("mode".into(), json!("managed"));
    object.insert("type".into(), json!(type_name));
    object.insert("name".into(), json!(name));
    if let Some(index) = index {
        object.insert("index".into(), index);
    }
    object.insert("provider_name".into(), json!(provider));
    object
}

fn change_body(action: Action, before: Option<&Attrs>, after: Option<&Attrs>) -> Map<String, Json> {
    let mut body = Map::new();
    body.insert("actions".into(), json!(action.terraform_actions()));
    body.insert("before".into(), before.map_or(Json::Null, attrs_json));
    body.insert("after".into(), after.map_or(Json::Null, attrs_json));
    body.insert(
        "after_unknown".into(),
        after.map_or(json!({}), |attrs| attrs_mask(attrs, Value::unknown_mask)),
    );
    body.insert(
        "before_sensitive".into(),
        before.map_or(json!(false), |attrs| {
            attrs_mask(attrs, Value::sensitive_mask)
        }),
    );
    body.insert(
        "after_sensitive".into(),
        after.map_or(json!(false), |attrs| {
            attrs_mask(attrs, Value::sensitive_mask)
        }),
    );
    body
}

fn outputs_json(outputs: &[OutputChange]) -> Json {
    let mut sorted: Vec<&OutputChange> = outputs.iter().collect();
    sorted.sort_by(|left, right| left.name.cmp(&right.name));

    let mut object = Map::new();
    for output in sorted {
        object.insert(output.name.clone(), output_json(output));
    }
    Json::Object(object)
}

fn output_json(output: &OutputChange) -> Json {
    let value = |value: Option<&Value>| match value {
        Some(_) if output.sensitive => Json::Null,
        Some(value) => redacted_json(value),
        None => Json::Null,
    };
    let sensitive_mask = |value: Option<&Value>| match value {
        Some(_) if output.sensitive => json!(true),
        Some(value) => value.sensitive_mask(),
        None => json!(false),
    };
    json!({
        "actions": output.action.terraform_actions(),
        "before": value(output.before.as_ref()),
        "after": value(output.after.as_ref()),
        "after_unknown": output.after.as_ref().map_or(json!(false), Value::unknown_mask),
        "before_sensitive": sensitive_mask(output.before.as_ref()),
        "after_sensitive": sensitive_mask(output.after.as_ref()),
    })
}

/// Returns the variables, leaving out those that are or contain sensitive
/// values.
fn variables_json(plan: &Plan) -> Json {
    let mut object = Map::new();
    for (name, value) in &plan.variables {
        if !value.contains_sensitive() {
            object.insert(name.clone(), json!({ "value": redacted_json(value) }));
        }
    }
    Json::Object(object)
}

fn attrs_json(attrs: &Attrs) -> Json {
    Json::Object(
        attrs
            .iter()
            .map(|(key, value)| (key.to_string(), redacted_json(value)))
            .collect(),
    )
}

/// Returns a resource-level mask: an object even when nothing is marked,
/// as Terraform writes it.
fn attrs_mask(attrs: &Attrs, mask: fn(&Value) -> Json) -> Json {
    match mask(&Value::map(attrs.clone().into_map())) {
        Json::Bool(false) => json!({}),
        other => other,
    }
}

/// Converts a value to JSON with every sensitive value, and every unknown
/// one, replaced by `null`.
pub(crate) fn redacted_json(value: &Value) -> Json {
    match value {
        Value::Sensitive(_) | Value::Unknown => Json::Null,
        Value::List(items) => Json::Array(items.iter().map(redacted_json).collect()),
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(key, value)| (key.to_string(), redacted_json(value)))
                .collect(),
        ),
        scalar => scalar.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_nulls_nested_secret() {
        let mut map = std::collections::BTreeMap::new();
        map.insert("user".to_owned(), Value::string("acme"));
        map.insert(
            "password".to_owned(),
            Value::sensitive(Value::string("hunter2")),
        );

        assert_eq!(
            redacted_json(&Value::map(map)),
            json!({"password": null, "user": "acme"})
        );
    }

    #[test]
    fn redaction_nulls_unknown() {
        let value = Value::list(vec![Value::Unknown, Value::Number(3.0)]);

        assert_eq!(redacted_json(&value), json!([null, 3]));
    }

    #[test]
    fn written_document_matches_the_json_tree() {
        let change = |address: &str, action: Action| ResourceChange {
            address: address.to_owned().into(),
            type_name: "catalog_tenant".into(),
            provider: "sqlite".into(),
            action,
            reason: None,
            before: None,
            after: Some(Attrs::from([
                ("id", Value::string(address)),
                ("secret", Value::sensitive(Value::string("hunter2"))),
                ("url", Value::Unknown),
            ])),
            replace_paths: Vec::new().into(),
            depends_on: Box::default(),
            refs: Vec::new().into(),
            prior_depends_on: Vec::new().into(),
        };
        let plan = Plan {
            mode: crate::plan::PlanMode::Normal,
            base: crate::plan::PlanBase {
                lineage: None,
                serial: 0,
                config_digest: String::new(),
            },
            changes: vec![change("tenant.b", Action::Create), change("tenant.a", Action::Create)],
            drift: Vec::new(),
            outputs: Vec::new(),
            targets: Vec::new(),
            created_at: "2026-12-05T00:00:00Z".to_owned(),
            variables: std::collections::BTreeMap::from([("region".to_owned(), Value::string("eu"))]),
        };

        let mut written = Vec::new();
        write_plan_json(&plan, &mut written).expect("writing to memory succeeds");

        let expected = serde_json::to_string_pretty(&plan_json(&plan)).expect("the tree serializes") + "\n";
        assert_eq!(String::from_utf8(written).expect("the document is UTF-8"), expected);
        assert_eq!(plan_json(&plan)["resource_changes"][0]["address"], "tenant.a");
        assert_eq!(plan_json(&plan)["resource_drift"], json!([]));
    }

    #[test]
    fn resource_mask_is_object_when_empty() {
        let mut attrs = Attrs::new();
        attrs.insert("name".to_owned(), Value::string("acme"));

        assert_eq!(attrs_mask(&attrs, Value::sensitive_mask), json!({}));
    }
}
