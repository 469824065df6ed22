//! The blocks that make up a rendered plan: one per resource change, one
//! per drifted object and one for the outputs, as lines ready for layout.
//! The terminal and Markdown renderers share them, so both show the same
//! changes in the same words.

use serde_json::Value as Json;
use tenancy_sdk::Value;

use super::diff::{DiffOptions, attribute_items, keyed_entry};
use super::lines::{Line, Marker};
use super::tree::{Item, push_items};
use crate::plan::{ActionReason, Drift, OutputChange, ResourceChange};

/// Returns the lines of one resource change: the comment heading, the reason
/// when there is one, and the resource block with its attribute changes.
pub(crate) fn change_lines(change: &ResourceChange, show_unchanged: bool) -> Vec<Line> {
    let mut lines = vec![Line::heading(format!(
        "# {} {}",
        change.address,
        change.action.phrase()
    ))];
    if let Some(reason) = change.reason.and_then(reason_text) {
        lines.push(Line::heading(format!("# {reason}")));
    }

    let options = DiffOptions::new(show_unchanged, &change.replace_paths);
    let items = attribute_items(change.before.as_ref(), change.after.as_ref(), &options);
    let marker = Marker::for_action(change.action);
    push_resource_block(
        &change.type_name,
        &change.address,
        marker,
        &items,
        &mut lines,
    );
    lines
}

/// Returns the lines of one drifted object: what changed outside tenancy, or
/// that the object is gone.
pub(crate) fn drift_lines(drift: &Drift, show_unchanged: bool) -> Vec<Line> {
    let (phrase, marker) = match drift.after {
        Some(_) => ("has changed", Marker::Update),
        None => ("has been deleted", Marker::Delete),
    };
    let mut lines = vec![Line::heading(format!("# {} {phrase}", drift.address))];

    let options = DiffOptions::new(show_unchanged, &[]);
    let items = attribute_items(Some(&drift.before), drift.after.as_ref(), &options);
    push_resource_block(&drift.type_name, &drift.address, marker, &items, &mut lines);
    lines
}

/// Returns one line per output that changes, in name order with `=`
/// aligned. Sensitive outputs show `(sensitive value)` in place of both
/// values.
pub(crate) fn output_lines(outputs: &[OutputChange]) -> Vec<Line> {
    let options = DiffOptions::new(false, &[]);
    let mut sorted: Vec<&OutputChange> = outputs.iter().collect();
    sorted.sort_by(|left, right| left.name.cmp(&right.name));
    let items: Vec<Item> = sorted
        .into_iter()
        .filter(|output| output.action != crate::plan::Action::NoOp)
        .filter_map(|output| {
            let mark = |value: &Value| {
                if output.sensitive {
                    Value::sensitive(value.clone())
                } else {
                    value.clone()
                }
            };
            let before = output.before.as_ref().map(mark);
            let after = output.after.as_ref().map(mark);
            keyed_entry(&output.name, before.as_ref(), after.as_ref(), &options)
        })
        .map(Item::Entry)
        .collect();

    let mut lines = Vec::new();
    push_items(&items, 0, &mut lines);
    lines
}

/// Returns the explanation shown under a change's heading, for the reasons
/// that the attribute markers do not already show.
pub(crate) fn reason_text(reason: ActionReason) -> Option<&'static str> {
    match reason {
        ActionReason::ReplaceByRequest => Some("(because -replace was given)"),
        ActionReason::DeleteBecauseNoResource => {
            Some("(because it is no longer in the configuration)")
        }
        ActionReason::CreateBecauseMissing => {
            Some("(because the object was deleted outside tenancy)")
        }
        ActionReason::ReplaceBecauseAttribute | ActionReason::DeleteBecauseDestroy => None,
    }
}

fn push_resource_block(
    type_name: &str,
    address: &str,
    marker: Marker,
    items: &[Item],
    lines: &mut Vec<Line>,
) {
    let header = format!("resource {} {} {{", quote(type_name), quote(address));
    lines.push(Line::body(0, marker, header));
    push_items(items, 1, lines);
    lines.push(Line::body(0, Marker::None, "}"));
}

fn quote(text: &str) -> String {
    Json::String(text.to_owned()).to_string()
}
