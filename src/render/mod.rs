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

pub use json::{PLAN_JSON_FORMAT_VERSION, action_reason_name, plan_json};
pub use markdown::{GITHUB_COMMENT_LIMIT, render_markdown};
pub use text::{TextOptions, render_text, write_text};
