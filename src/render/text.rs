//! The plan as terminal text, in the layout Terraform users read every day.
//!
//! Every marker symbol comes with words: the comment heading above each
//! resource names the action, and a legend lists the symbols in use, so the
//! output reads the same with or without colour.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use super::blocks::{change_lines, drift_lines, output_lines};
use super::lines::Line;
use crate::plan::{Action, Plan, ResourceChange};

/// Settings for [`render_text`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// Colour markers and bold headings with ANSI escape codes.
    pub color: bool,
    /// Show the unchanged attributes of an update instead of counting them in
    /// a `# (N unchanged attributes hidden)` line.
    pub show_unchanged_attributes: bool,
}

/// Renders a plan as text for a terminal, ending with the summary line.
pub fn render_text(plan: &Plan, options: &TextOptions) -> String {
    let mut bytes = Vec::new();
    // Writes to a vector do not fail.
    let _ = write_text(plan, options, &mut bytes);
    String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// Writes a plan as [`render_text`] renders it to `out`, section by
/// section and block by block: a plan of 100,000 creates is about 47 MB of
/// text, which is never held whole.
pub fn write_text(plan: &Plan, options: &TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let mut sections = Sections { out, started: false };

    if !plan.drift.is_empty() {
        sections.next()?.write_all(drift_section(plan, options).as_bytes())?;
    }

    let mut changes: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|change| change.action != Action::NoOp)
        .collect();
    changes.sort_by(|left, right| left.address.cmp(&right.address));
    if !changes.is_empty() {
        sections.next()?.write_all(legend(&changes).as_bytes())?;
        let heading = heading("tenancy will perform the following actions:", options);
        sections.next()?.write_all(heading.as_bytes())?;
        render_changes(sections.next()?, &changes, options, crate::parallel::threads())?;
    }

    let outputs = output_lines(&plan.outputs);
    if !outputs.is_empty() {
        let out = sections.next()?;
        out.write_all(heading("Changes to Outputs:", options).as_bytes())?;
        out.write_all(b"\n")?;
        out.write_all(layout(&outputs, options).as_bytes())?;
    }

    sections.next()?.write_all(summary_line(plan, options).as_bytes())?;
    if !plan.targets.is_empty() {
        sections.next()?.write_all(targets_warning(&plan.targets).as_bytes())?;
    }
    sections.out.write_all(b"\n")
}

/// The sections of the text, separated by blank lines.
struct Sections<'a> {
    out: &'a mut dyn Write,
    started: bool,
}

impl Sections<'_> {
    /// Returns the output for the next section, after a blank line when a
    /// section came before.
    fn next(&mut self) -> io::Result<&mut dyn Write> {
        if self.started {
            self.out.write_all(b"\n\n")?;
        }
        self.started = true;
        Ok(&mut *self.out)
    }
}

fn drift_section(plan: &Plan, options: &TextOptions) -> String {
    let mut drifts: Vec<_> = plan.drift.iter().collect();
    drifts.sort_by(|left, right| left.address.cmp(&right.address));

    let mut parts = vec![
        heading("Objects have changed outside of tenancy", options),
        "Refresh found these differences between the recorded state and the real objects:"
            .to_owned(),
    ];
    for drift in drifts {
        parts.push(layout(
            &drift_lines(drift, options.show_unchanged_attributes),
            options,
        ));
    }
    let closing = if plan.has_changes() {
        "The actions below may undo these changes unless the configuration is changed to \
         match them."
    } else {
        "The configuration already matches the objects as they are now, so these changes \
         need no action."
    };
    parts.push(closing.to_owned());
    parts.join("\n\n")
}

/// Lists the symbols that appear below, each with its meaning.
fn legend(changes: &[&ResourceChange]) -> String {
    let meanings = [
        (Action::Create, "  + create"),
        (Action::Update, "  ~ update in place"),
        (Action::Delete, "  - destroy"),
        (Action::Replace, "-/+ destroy and then create again"),
    ];
    let mut lines = vec!["Actions are marked with these symbols:".to_owned()];
    for (action, line) in meanings {
        if changes.iter().any(|change| change.action == action) {
            lines.push(line.to_owned());
        }
    }
    lines.join("\n")
}

fn summary_line(plan: &Plan, options: &TextOptions) -> String {
    if !plan.has_changes() {
        let text = "No changes. Your infrastructure matches the configuration.";
        return if options.color {
            text.bold().to_string()
        } else {
            text.to_owned()
        };
    }
    let summary = plan.summary();
    let counts = format!(
        "{} to add, {} to change, {} to destroy.",
        summary.add, summary.change, summary.destroy
    );
    if options.color {
        format!("{} {counts}", "Plan:".bold())
    } else {
        format!("Plan: {counts}")
    }
}

fn targets_warning(targets: &[String]) -> String {
    format!(
        "Warning: this plan covers only the resources selected with -target ({}) and what \
         they depend on, so it may leave other changes out.",
        targets.join(", ")
    )
}

fn heading(text: &str, options: &TextOptions) -> String {
    if options.color {
        text.bold().to_string()
    } else {
        text.to_owned()
    }
}

fn layout(lines: &[Line], options: &TextOptions) -> String {
    let mut text = String::new();
    write_lines(&mut text, lines, options);
    text
}

fn write_lines(out: &mut String, lines: &[Line], options: &TextOptions) {
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        line.write_terminal(out, options.color);
    }
}

/// The number of changes below which rendering stays on one thread.
const PARALLEL_RENDER_MIN: usize = 512;

/// Appends the blocks of `changes` to `text`, separated by blank lines.
/// Large plans are rendered in chunks on `threads` threads, because each
/// block depends on its change alone.
/// The number of changes rendered between two writes to the output.
const RENDER_BLOCK: usize = 4096;

fn render_changes(out: &mut dyn Write, changes: &[&ResourceChange], options: &TextOptions, threads: usize) -> io::Result<()> {
    let render_chunk = |chunk: &[&ResourceChange]| {
        let mut text = String::with_capacity(chunk.len() * 512);
        for (index, change) in chunk.iter().enumerate() {
            if index > 0 {
                text.push_str("\n\n");
            }
            let lines = change_lines(change, options.show_unchanged_attributes);
            write_lines(&mut text, &lines, options);
        }
        text
    };
    if threads < 2 || changes.len() < PARALLEL_RENDER_MIN {
        return out.write_all(render_chunk(changes).as_bytes());
    }
    // Blocks of changes are rendered on every core in turn and written in
    // order, so the text in memory stays near the size of one block.
    for (index, block) in changes.chunks(RENDER_BLOCK).enumerate() {
        let parts = crate::parallel::map_chunks(block, threads, |chunk| render_chunk(chunk));
        for (part_index, part) in parts.into_iter().enumerate() {
            if index > 0 || part_index > 0 {
                out.write_all(b"\n\n")?;
            }
            out.write_all(part.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tenancy_sdk::{Attrs, Value};

    use super::*;

    fn create(index: usize) -> ResourceChange {
        let mut after = Attrs::new();
        after.insert("id".to_owned(), Value::string(format!("t{index:04}")));
        after.insert("port".to_owned(), Value::Number(index as f64));
        ResourceChange {
            address: format!("tenant.t{index:04}").into(),
            type_name: "catalog_tenant".into(),
            provider: "sqlite".into(),
            action: Action::Create,
            reason: None,
            before: None,
            after: Some(after),
            replace_paths: Vec::new().into(),
            depends_on: Box::default(),
            refs: Vec::new().into(),
            prior_depends_on: Vec::new().into(),
        }
    }

    #[test]
    fn parallel_render_matches_sequential() {
        let owned: Vec<ResourceChange> = (0..RENDER_BLOCK + PARALLEL_RENDER_MIN + 77).map(create).collect();
        let changes: Vec<&ResourceChange> = owned.iter().collect();
        for color in [false, true] {
            let options = TextOptions {
                color,
                show_unchanged_attributes: false,
            };

            let mut sequential = b"before".to_vec();
            render_changes(&mut sequential, &changes, &options, 1).expect("writes to a vector");
            let mut parallel = b"before".to_vec();
            render_changes(&mut parallel, &changes, &options, 3).expect("writes to a vector");

            let (sequential, parallel) = (String::from_utf8(sequential).unwrap(), String::from_utf8(parallel).unwrap());
            assert_eq!(parallel, sequential);
            assert!(sequential.contains("tenant.t0588"));
            assert!(sequential.contains("tenant.t4684"));
            assert!(parallel.starts_with("before"));
        }
    }
}
