//! The configuration language: loading, evaluation and checks.

pub mod source;
