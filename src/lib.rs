//! tenancy: declarative infrastructure as code for multi-tenant SaaS
//! platforms.
//!
//! The modules follow the pipeline: [`lang`] loads and evaluates `*.hcl`
//! files into a [`config::Config`], lowering turns it into resources and a
//! dependency graph, the diff compares them with state, and apply walks the
//! graph through the providers of [`registry`].

pub mod apply;
pub mod cli;
pub mod config;
pub mod lang;
pub mod graph;
pub mod lower;
pub mod parallel;
pub mod plan;
pub mod registry;
pub mod render;
pub mod state;
