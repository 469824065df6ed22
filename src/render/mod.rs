//! Rendering of plans: terminal text, JSON and Markdown.
//!
//! Each renderer is a pure function of a [`Plan`](crate::plan::Plan) that
//! returns the whole output. The engine never prints, so the command line
//! writes the returned string where it belongs. All three show a sensitive
//! value only as a mark, never its data or its length.

mod blocks;
mod diff;
mod json;
mod lines;
mod markdown;
mod path;
mod text;
mod tree;

pub use json::{PLAN_JSON_FORMAT_VERSION, action_reason_name, plan_json, write_plan_json};
pub use markdown::{GITHUB_COMMENT_LIMIT, render_markdown};
pub use text::{TextOptions, render_text, write_text};

/// Appends `value` to `text`, then spaces up to `width` characters.
///
/// The formatter's own padding (`{value:width$}`) panics for widths above
/// 65,535 (seen with Rust 1.95), which a state file's attribute name or a
/// tenant's display name can reach.
pub(crate) fn push_padded(text: &mut String, value: &str, width: usize) {
    text.push_str(value);
    let padding = width.saturating_sub(value.chars().count());
    text.extend(std::iter::repeat_n(' ', padding));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_fills_to_the_width() {
        let mut text = String::new();

        push_padded(&mut text, "id", 5);
        push_padded(&mut text, "région", 3);

        assert_eq!(text, "id   région");
    }

    #[test]
    fn padding_accepts_widths_past_the_formatter_limit() {
        let mut text = String::new();

        push_padded(&mut text, "id", 70_000);

        assert_eq!(text.len(), 70_000);
    }
}
