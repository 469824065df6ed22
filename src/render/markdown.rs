//! The plan as a Markdown pull-request comment.
//!
//! The comment opens with the summary and a table of every change, then one
//! collapsible section per tenant with the attribute-level changes in a
//! `diff` block, then drift and outputs. Values appear only inside fenced
//! blocks, and each fence is longer than any run of backticks inside it.
//! Text in table cells and headings is escaped. Sensitive values show as
//! `(sensitive value)`, as in the terminal.
//!
//! GitHub rejects comments longer than 65,536 characters. When the tenant
//! sections do not all fit, the comment keeps as many as fit, in tenant
//! order, and says how many were left out and where the full plan is.

use std::collections::BTreeMap;

use super::blocks::{change_lines, drift_lines, output_lines};
use super::lines::Line;
use crate::plan::{Action, Plan, ResourceChange, Summary};

/// The maximum length of a GitHub comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Space kept free for the note about what was left out.
const NOTE_RESERVE: usize = 400;
/// The share of the limit the table of changes may take. Longer tables are
/// cut, so the per-tenant details keep room.
const TABLE_BUDGET: usize = GITHUB_COMMENT_LIMIT / 4;
/// The share of the limit the drift section and the outputs section may
/// each take.
const SECTION_BUDGET: usize = GITHUB_COMMENT_LIMIT / 8;
/// The sentence that points the reader to the full plan.
const FULL_PLAN_HINT: &str = "The full plan is in the JSON plan artifact of this run.";

/// Renders a plan as a Markdown comment for a pull request, at most
/// [`GITHUB_COMMENT_LIMIT`] characters long.
pub fn render_markdown(plan: &Plan) -> String {
    let mut changes: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|change| change.action != Action::NoOp)
        .collect();
    changes.sort_by(|left, right| left.address.cmp(&right.address));

    let mut head = heading(plan);
    if !changes.is_empty() {
        head.push_str(&changes_table(&changes));
    }
    let tail = [drift_section(plan), outputs_section(plan)].concat();

    let budget =
        GITHUB_COMMENT_LIMIT.saturating_sub(char_count(&head) + char_count(&tail) + NOTE_RESERVE);
    let details = tenant_details(&changes, budget);

    let mut comment = head;
    comment.push_str(&details);
    comment.push_str(&tail);
    comment
}

fn heading(plan: &Plan) -> String {
    if !plan.has_changes() {
        return "### tenancy plan: no changes\n\n\
                No changes. Your infrastructure matches the configuration.\n\n"
            .to_owned();
    }
    let summary = plan.summary();
    let mut text = format!("### tenancy plan: {}\n\n", summary_phrase(summary));
    if !plan.targets.is_empty() {
        let targets: Vec<String> = plan
            .targets
            .iter()
            .map(|target| escape_markdown(target))
            .collect();
        text.push_str(&format!(
            "**Warning:** this plan covers only the resources selected with -target ({}) and \
             what they depend on.\n\n",
            targets.join(", ")
        ));
    }
    text
}

fn summary_phrase(summary: Summary) -> String {
    format!(
        "{} to add, {} to change, {} to destroy",
        summary.add, summary.change, summary.destroy
    )
}

fn changes_table(changes: &[&ResourceChange]) -> String {
    let mut table = "| Action | Address | Type | Tenant |\n| --- | --- | --- | --- |\n".to_owned();
    let mut length = char_count(&table);
    for (shown, change) in changes.iter().enumerate() {
        let row = format!(
            "| `{}` {} | {} | {} | {} |\n",
            change.action.symbol(),
            action_word(change.action),
            escape_markdown(&change.address),
            escape_markdown(&change.type_name),
            change.tenant().map_or("(none)".to_owned(), escape_markdown),
        );
        let row_length = char_count(&row);
        if length + row_length > TABLE_BUDGET {
            let left_out = changes.len() - shown;
            table.push_str(&format!(
                "\n_{left_out} more {} not listed in this table. {FULL_PLAN_HINT}_\n",
                plural(left_out, "change is", "changes are")
            ));
            break;
        }
        length += row_length;
        table.push_str(&row);
    }
    table.push('\n');
    table
}

/// Returns the word for an action, as the table shows it next to the symbol.
fn action_word(action: Action) -> &'static str {
    match action {
        Action::NoOp => "no-op",
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "destroy",
    }
}

/// Returns the collapsible sections of every tenant that fit in `budget`
/// characters, followed by a note when some did not.
fn tenant_details(changes: &[&ResourceChange], budget: usize) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let mut groups: BTreeMap<&str, Vec<&ResourceChange>> = BTreeMap::new();
    let mut untenanted = Vec::new();
    for change in changes {
        match change.tenant() {
            Some(tenant) => groups.entry(tenant).or_default().push(change),
            None => untenanted.push(*change),
        }
    }

    let mut sections: Vec<String> = groups
        .iter()
        .map(|(tenant, changes)| {
            let title = format!("Tenant {}", escape_html(tenant));
            tenant_section(&title, changes)
        })
        .collect();
    if !untenanted.is_empty() {
        sections.push(tenant_section("Resources without a tenant", &untenanted));
    }

    let mut text = "#### Changes by tenant\n\n".to_owned();
    let mut used = char_count(&text);
    let total = sections.len();
    for (shown, section) in sections.into_iter().enumerate() {
        if used + char_count(&section) > budget {
            let left_out = total - shown;
            text.push_str(&format!(
                "_The details of {left_out} of {total} {} were left out to keep this comment \
                 under GitHub's limit of 65,536 characters. {FULL_PLAN_HINT}_\n\n",
                if total == 1 { "section" } else { "sections" }
            ));
            break;
        }
        used += char_count(&section);
        text.push_str(&section);
    }
    text
}

fn tenant_section(title: &str, changes: &[&ResourceChange]) -> String {
    let mut summary = Summary::default();
    let mut lines = Vec::new();
    for change in changes {
        count_action(&mut summary, change.action);
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(change_lines(change, false).iter().map(Line::to_diff));
    }
    let summary_text = format!("{title}: {}", summary_phrase(summary));
    details(&summary_text, &lines.join("\n"))
}

fn count_action(summary: &mut Summary, action: Action) {
    match action {
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

fn drift_section(plan: &Plan) -> String {
    if plan.drift.is_empty() {
        return String::new();
    }
    let mut drifts: Vec<_> = plan.drift.iter().collect();
    drifts.sort_by(|left, right| left.address.cmp(&right.address));

    let mut lines = Vec::new();
    for drift in &drifts {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(drift_lines(drift, false).iter().map(Line::to_diff));
    }
    let count = drifts.len();
    let title = format!(
        "{count} {} changed outside tenancy",
        plural(count, "object has", "objects have")
    );
    let body = fit_section(details(&title, &lines.join("\n")), &title);
    format!("#### Objects changed outside tenancy\n\n{body}")
}

fn outputs_section(plan: &Plan) -> String {
    let lines = output_lines(&plan.outputs);
    if lines.is_empty() {
        return String::new();
    }
    let diff = lines
        .iter()
        .map(Line::to_diff)
        .collect::<Vec<_>>()
        .join("\n");
    let body = fit_section(format!("{}\n", fenced("diff", &diff)), "The output changes");
    format!("#### Changes to outputs\n\n{body}")
}

/// Keeps a section within [`SECTION_BUDGET`], replacing it by a note when
/// it is longer.
fn fit_section(section: String, title: &str) -> String {
    if char_count(&section) <= SECTION_BUDGET {
        return section;
    }
    format!(
        "_{} are too long for this comment and were left out. {FULL_PLAN_HINT}_\n\n",
        escape_markdown(title)
    )
}

fn details(summary: &str, diff: &str) -> String {
    format!(
        "<details><summary>{summary}</summary>\n\n{}\n\n</details>\n\n",
        fenced("diff", diff)
    )
}

/// Wraps text in a fenced code block whose fence is longer than any run of
/// backticks inside, so no value can close the block early.
pub(crate) fn fenced(language: &str, text: &str) -> String {
    let longest_run = text
        .split(|character| character != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    format!("{fence}{language}\n{text}\n{fence}")
}

/// Escapes text for a Markdown table cell or heading: characters that
/// Markdown or GitHub's tables interpret get a backslash, and line breaks
/// become spaces.
pub(crate) fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '!' => {
                escaped.push('\\');
                escaped.push(character);
            }
            '\n' | '\r' => escaped.push(' '),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Escapes text for an HTML element such as `<summary>`: markup characters
/// become entities, and so do backticks and pipes in case a viewer applies
/// Markdown there.
pub(crate) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('`', "&#96;")
        .replace('|', "&#124;")
        .replace(['\n', '\r'], " ")
}

fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 { one } else { many }
}

fn char_count(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escape_covers_table_breakers() {
        assert_eq!(escape_markdown("a|b"), "a\\|b");
        assert_eq!(escape_markdown("`x`"), "\\`x\\`");
        assert_eq!(escape_markdown("<script>"), "\\<script\\>");
        assert_eq!(escape_markdown("db_main"), "db\\_main");
        assert_eq!(escape_markdown("two\nlines"), "two lines");
    }

    #[test]
    fn html_escape_covers_markup() {
        assert_eq!(escape_html("<b>&\"x\""), "&lt;b&gt;&amp;&quot;x&quot;");
        assert_eq!(escape_html("`a|b`"), "&#96;a&#124;b&#96;");
    }

    #[test]
    fn fence_outgrows_backtick_runs() {
        assert_eq!(fenced("diff", "+ a"), "```diff\n+ a\n```");
        assert_eq!(fenced("diff", "+ ```x```"), "````diff\n+ ```x```\n````");
        assert_eq!(fenced("diff", "+ `````"), "``````diff\n+ `````\n``````");
    }

    #[test]
    fn long_section_becomes_note() {
        let section = "x".repeat(SECTION_BUDGET + 1);

        let fitted = fit_section(section, "The output changes");

        assert!(
            fitted.starts_with("_The output changes are too long"),
            "{fitted}"
        );
    }
}
