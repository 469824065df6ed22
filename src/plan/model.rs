//! The plan: what apply will do, resource by resource.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tenancy_sdk::{ArcStr, Attrs, Name, ThinVec, Value};

/// The action planned for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing changes.
    NoOp,
    /// The resource is created.
    Create,
    /// The resource is changed in place.
    Update,
    /// The resource is deleted, then created again.
    Replace,
    /// The resource is deleted.
    Delete,
}

impl Action {
    /// Returns the action list in the shape of Terraform's JSON plan.
    pub fn terraform_actions(self) -> &'static [&'static str] {
        match self {
            Action::NoOp => &["no-op"],
            Action::Create => &["create"],
            Action::Update => &["update"],
            Action::Replace => &["delete", "create"],
            Action::Delete => &["delete"],
        }
    }

    /// Returns the symbol shown before the resource in a rendered plan.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }

    /// Returns the phrase used in headings: "will be created".
    pub fn phrase(self) -> &'static str {
        match self {
            Action::NoOp => "is unchanged",
            Action::Create => "will be created",
            Action::Update => "will be updated in place",
            Action::Replace => "must be replaced",
            Action::Delete => "will be destroyed",
        }
    }
}

/// Why an action was chosen, when the attributes alone do not say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionReason {
    /// `-replace` named the resource.
    ReplaceByRequest,
    /// A change to an attribute that forces replacement.
    ReplaceBecauseAttribute,
    /// The resource is no longer in the configuration.
    DeleteBecauseNoResource,
    /// The object was deleted outside tenancy and is created again.
    CreateBecauseMissing,
    /// `tenancy destroy` was run.
    DeleteBecauseDestroy,
}

/// An attribute whose value comes from another resource's attribute, such
/// as a subnet's `vpc_id`. When the other resource is created in the same
/// apply, the value is unknown in the plan and filled in at apply time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrRef {
    /// The attribute to fill.
    pub attr: String,
    /// The address of the resource that provides the value.
    pub from: String,
    /// The attribute of that resource.
    pub from_attr: String,
}

/// The planned change of one resource.
///
/// Plan files also record each change's owning tenant, as [`ResourceChange::tenant`]
/// returns it, so that a build that still reads the tenant from the file
/// shows it. Reading ignores it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ResourceChange {
    /// The resource address, such as `tenant.acme.database.sqlite`.
    pub address: ArcStr,
    /// The resource type.
    pub type_name: Name,
    /// The provider instance, such as `sqlite` or `postgres.eu`.
    pub provider: Name,
    /// The planned action.
    pub action: Action,
    /// Why the action was chosen, when it needs saying.
    pub reason: Option<ActionReason>,
    /// Attributes before the change (after refresh); `None` on create.
    pub before: Option<Attrs>,
    /// Attributes after the change, with unknown values; `None` on delete.
    pub after: Option<Attrs>,
    /// Attributes whose change forces the replacement.
    pub replace_paths: ThinVec<String>,
    /// Addresses this resource depends on. A boxed slice takes 8 bytes less
    /// than a vector, which keeps a change no larger than the desired
    /// resource it is planned from (see [`crate::plan::diff::diff_taking`]).
    pub depends_on: Box<[ArcStr]>,
    /// Attributes filled from other resources at apply time.
    #[serde(default, skip_serializing_if = "ThinVec::is_empty")]
    pub refs: ThinVec<AttrRef>,
    /// Addresses the resource depended on in state but no longer depends on.
    #[serde(default, skip_serializing_if = "ThinVec::is_empty")]
    pub prior_depends_on: ThinVec<ArcStr>,
}

impl ResourceChange {
    /// Returns the address of the tenant that owns the resource, if any.
    pub fn tenant(&self) -> Option<&str> {
        owning_tenant(&self.address)
    }
}

/// A change as plan files record it: its fields in order, with the owning
/// tenant after the dependencies.
#[derive(Serialize)]
struct ChangeRecord<'a> {
    address: &'a str,
    type_name: Name,
    provider: Name,
    action: Action,
    reason: Option<ActionReason>,
    before: &'a Option<Attrs>,
    after: &'a Option<Attrs>,
    replace_paths: &'a [String],
    depends_on: &'a [ArcStr],
    tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "<[AttrRef]>::is_empty")]
    refs: &'a [AttrRef],
    #[serde(skip_serializing_if = "<[ArcStr]>::is_empty")]
    prior_depends_on: &'a [ArcStr],
}

impl Serialize for ResourceChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = ChangeRecord {
            address: &self.address,
            type_name: self.type_name,
            provider: self.provider,
            action: self.action,
            reason: self.reason,
            before: &self.before,
            after: &self.after,
            replace_paths: &self.replace_paths,
            depends_on: &self.depends_on,
            tenant: self.tenant(),
            refs: &self.refs,
            prior_depends_on: &self.prior_depends_on,
        };
        record.serialize(serializer)
    }
}

/// Returns the address of the tenant that owns `address`: `tenant.acme`
/// for `tenant.acme.database.sqlite`, and `tenant.acme` itself. A
/// `for_each` key is a JSON string, so a `]` or `.` inside it belongs to
/// the key.
pub fn owning_tenant(address: &str) -> Option<&str> {
    let rest = address.strip_prefix("tenant.")?;
    let name_end = rest.find(['.', '[']).unwrap_or(rest.len());
    let end = "tenant.".len() + name_end;
    let Some(index) = address[end..].strip_prefix('[') else {
        return Some(&address[..end]);
    };
    let index_length = match quoted_length(index) {
        Some(length) => length,
        None => index.find(']')?,
    };
    index[index_length..]
        .starts_with(']')
        .then(|| &address[..end + 1 + index_length + 1])
}

/// Returns the length of the JSON string that `text` starts with, quotes
/// included, or `None` when it starts with none.
fn quoted_length(text: &str) -> Option<usize> {
    let mut characters = text.char_indices();
    if characters.next()?.1 != '"' {
        return None;
    }
    while let Some((position, character)) = characters.next() {
        match character {
            '\\' => {
                characters.next()?;
            }
            '"' => return Some(position + 1),
            _ => {}
        }
    }
    None
}

/// A difference between recorded state and the real object, found by
/// refresh: a change made outside tenancy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The resource address.
    pub address: String,
    /// The resource type.
    pub type_name: Name,
    /// The provider instance.
    pub provider: Name,
    /// Attributes as recorded in state.
    pub before: Attrs,
    /// Attributes as read from the real object; `None` when it was deleted.
    pub after: Option<Attrs>,
}

/// The planned value of one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputChange {
    /// Output name.
    pub name: String,
    /// The action on the output.
    pub action: Action,
    /// Value before, if the output existed.
    pub before: Option<Value>,
    /// Value after, possibly unknown; `None` when the output is removed.
    pub after: Option<Value>,
    /// Whether the output is sensitive.
    pub sensitive: bool,
}

/// What a plan was made against, so a saved plan can be checked before apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanBase {
    /// Lineage of the state the plan was made against (`None` for no state).
    pub lineage: Option<String>,
    /// Serial of that state.
    pub serial: u64,
    /// SHA-256 of the configuration files, in name order.
    pub config_digest: String,
}

/// The kind of run the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Converge on the configuration.
    Normal,
    /// Destroy every resource.
    Destroy,
}

/// A complete plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The kind of run.
    pub mode: PlanMode,
    /// What the plan was made against.
    pub base: PlanBase,
    /// One change per resource, in address order, including no-ops.
    pub changes: Vec<ResourceChange>,
    /// Changes made outside tenancy, found by refresh.
    pub drift: Vec<Drift>,
    /// Planned output values.
    pub outputs: Vec<OutputChange>,
    /// Addresses given with `-target`, if any.
    pub targets: Vec<String>,
    /// When the plan was made (RFC 3339).
    pub created_at: String,
    /// Variable values the plan was made with, sensitive ones marked.
    pub variables: BTreeMap<String, Value>,
}

/// Counts of planned actions, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Resources to create (replacements count here too).
    pub add: usize,
    /// Resources to change in place.
    pub change: usize,
    /// Resources to destroy (replacements count here too).
    pub destroy: usize,
}

impl Plan {
    /// Returns the counts for "Plan: N to add, N to change, N to destroy."
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            match change.action {
                Action::NoOp => {}
                Action::Create => summary.add += 1,
                Action::Update => summary.change += 1,
                Action::Replace => {
                    summary.add += 1;
                    summary.destroy += 1;
                }
                Action::Delete => summary.destroy += 1,
            }
        }
        summary
    }

    /// Returns true when any resource or output would change.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|change| change.action != Action::NoOp)
            || self.outputs.iter().any(|output| output.action != Action::NoOp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owning_tenant_of_nested_address() {
        assert_eq!(owning_tenant("tenant.acme.database.sqlite"), Some("tenant.acme"));
        assert_eq!(owning_tenant("tenant.acme"), Some("tenant.acme"));
        assert_eq!(
            owning_tenant("tenant.studios[\"berlin\"].subscription"),
            Some("tenant.studios[\"berlin\"]")
        );
        assert_eq!(owning_tenant("tier.pro"), None);
    }

    #[test]
    fn owning_tenant_keeps_brackets_in_keys() {
        for key in ["a]b", "x]", "]", "a\\\"]", "c.d", "[", "\\", ""] {
            let tenant = format!("tenant.odd[{}]", crate::config::quote_key(key));
            let nested = format!("{tenant}.database.sqlite");

            assert_eq!(owning_tenant(&tenant), Some(tenant.as_str()), "{key}");
            assert_eq!(owning_tenant(&nested), Some(tenant.as_str()), "{key}");
        }
    }
}
