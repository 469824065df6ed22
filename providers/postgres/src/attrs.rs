//! The `postgres_database` resource type: its schema and the attribute maps
//! the provider returns.

use tenancy_sdk::{AttrType, AttributeSchema, Attrs, ResourceSchema, Value};

use crate::connection::Server;
use crate::credentials;
use crate::spec::{TenantSpec, tables_value};

/// The resource type name.
pub const DATABASE_TYPE: &str = "postgres_database";

/// Returns the schema of `postgres_database`.
pub fn database_schema() -> ResourceSchema {
    ResourceSchema {
        type_name: DATABASE_TYPE,
        description: "A tenant's login role with its own database, its own schema, or row-level security in a shared database.",
        attributes: vec![
            AttributeSchema::required("tenant_id", AttrType::String, "The tenant id, matching [a-z_][a-z0-9_]*.")
                .force_new(),
            AttributeSchema::required(
                "isolation",
                AttrType::String,
                "How the tenant's data is kept apart: \"database\", \"schema\" or \"row\".",
            )
            .force_new(),
            AttributeSchema::optional(
                "database",
                AttrType::String,
                "The shared database for schema and row isolation; unused under database isolation.",
            )
            .force_new(),
            AttributeSchema::optional(
                "connection_limit",
                AttrType::Number,
                "The role's connection limit; -1, the default, means no limit.",
            ),
            AttributeSchema::optional(
                "statement_timeout_ms",
                AttrType::Number,
                "The role's statement_timeout in milliseconds; null keeps the server default.",
            ),
            AttributeSchema::optional(
                "idle_timeout_ms",
                AttrType::Number,
                "The role's idle_in_transaction_session_timeout in milliseconds; null keeps the server default.",
            ),
            AttributeSchema::optional(
                "password_rotation_days",
                AttrType::Number,
                "Days after which the password is rotated; null never rotates it.",
            ),
            AttributeSchema::optional(
                "audit_logging",
                AttrType::Bool,
                "Whether the server logs every statement of the role (log_statement = 'all').",
            ),
            AttributeSchema::optional(
                "ssl_required",
                AttrType::Bool,
                "Whether the tenant's URL requires SSL (sslmode=require).",
            ),
            AttributeSchema {
                computed: true,
                ..AttributeSchema::optional(
                    "tables",
                    AttrType::StringList,
                    "Shared tables under row-level security for row isolation; defaults to the provider's `tables`.",
                )
            },
            AttributeSchema::computed("id", AttrType::String, "The role name, which identifies the resource."),
            AttributeSchema::computed("role", AttrType::String, "The tenant's login role, tenant_<id>."),
            AttributeSchema::computed("password", AttrType::String, "The role's password.").sensitive(),
            AttributeSchema::computed(
                "password_updated_at",
                AttrType::String,
                "When the password was last set, RFC 3339 in UTC.",
            ),
            AttributeSchema::computed(
                "valid_until",
                AttrType::String,
                "The role's VALID UNTIL: two rotation periods after the password was set, or null.",
            ),
            AttributeSchema::computed("url", AttrType::String, "The tenant's connection URL.").sensitive(),
            AttributeSchema::computed(
                "isolation_intact",
                AttrType::Bool,
                "Whether the grants, ownership and policies that isolate the tenant are as the provider set them.",
            ),
        ],
    }
}

/// Returns the attributes of a tenant whose objects match the spec, with the
/// given password.
pub fn build(server: &Server, spec: &TenantSpec, password: &str, updated_at: &str) -> Attrs {
    let mut attrs = Attrs::new();
    let mut set = |name: &str, value: Value| {
        attrs.insert(name.to_owned(), value);
    };
    set("tenant_id", spec.tenant_id.clone().into());
    set("isolation", spec.isolation.as_str().into());
    set("database", optional_text(spec.shared_database.clone()));
    set("connection_limit", spec.connection_limit.into());
    set("statement_timeout_ms", optional_number(spec.statement_timeout_ms));
    set("idle_timeout_ms", optional_number(spec.idle_timeout_ms));
    set("password_rotation_days", optional_number(spec.password_rotation_days));
    set("audit_logging", spec.audit_logging.into());
    set("ssl_required", spec.ssl_required.into());
    set("tables", tables_value(&spec.tables));
    set("id", spec.role.clone().into());
    set("role", spec.role.clone().into());
    set("password", Value::sensitive(password.into()));
    set("password_updated_at", updated_at.into());
    set(
        "valid_until",
        optional_text(credentials::valid_until(updated_at, spec.password_rotation_days)),
    );
    set(
        "url",
        Value::sensitive(credentials::tenant_url(server, spec, password).into()),
    );
    set("isolation_intact", true.into());
    attrs
}

/// Returns a number value, or null.
pub fn optional_number(number: Option<i64>) -> Value {
    number.map(Value::from).unwrap_or(Value::Null)
}

/// Returns a string value, or null.
pub fn optional_text(text: Option<String>) -> Value {
    text.map(Value::from).unwrap_or(Value::Null)
}
