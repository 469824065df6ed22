//! The provider contract of tenancy.
//!
//! The engine and every provider crate depend on this crate and on nothing
//! of each other: a provider declares its resource types with
//! [`ResourceSchema`], exchanges attributes as [`Value`] trees that carry
//! unknown and sensitive marks, and implements [`Provider`].

pub mod attrs;
pub mod error;
pub mod name;
pub mod provider;
pub mod schema;
pub mod value;

pub use attrs::Attrs;
pub use name::Name;
pub use error::{ErrorKind, ProviderError, ProviderResult};
pub use provider::{ImportRequest, Operation, PlannedChange, Provider, ProviderContext, ReadRequest, plan_by_schema, plan_with_defaults};
pub use schema::{AttrType, AttributeSchema, ResourceSchema};
pub use value::{ArcStr, ThinVec, Value, ValueMap, format_number, is_identifier, redact_sensitive};
