//! Block schemas: which attributes and nested blocks each block accepts,
//! their types, defaults and allowed values.
//!
//! `docs/language.md` documents the same tables for users; a test there
//! checks that every attribute named here appears in it.

use std::collections::BTreeMap;

use tenancy_sdk::{ThinVec, Value};

use crate::lang::catalog;
use crate::lang::eval::{to_number, to_string_form, type_label};
use crate::lang::suggest::closest;

/// The type and value rule of one attribute.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Any value.
    Any,
    /// A string.
    String,
    /// A string kept with the sensitive mark.
    SensitiveString,
    /// A bool.
    Bool,
    /// A number greater than or equal to `min`.
    Number { min: f64 },
    /// A whole number greater than or equal to `min`.
    Whole { min: f64 },
    /// One of a fixed set of strings.
    OneOf(&'static [&'static str]),
    /// A list of strings.
    StringList,
    /// A list of strings, each one of a fixed set.
    OneOfList(&'static [&'static str]),
    /// A map of strings.
    StringMap,
    /// A map of numbers >= 0.
    NumberMap,
    /// An ISO 4217 currency code.
    Currency,
    /// A region name of AWS, Azure or GCP, or `local`.
    Region,
    /// An IPv4 CIDR block such as `10.0.0.0/16`.
    Cidr,
    /// A list of IPv4 or IPv6 CIDR blocks.
    CidrList,
    /// An email address.
    Email,
    /// A duration: a number of seconds of 0 or more, or a whole number with
    /// the unit `ms`, `s`, `m` or `h`, such as `"30s"`.
    Duration,
    /// Read by the block's decoder itself: references, `for_each`,
    /// `depends_on`, unevaluated expressions.
    Special,
}

/// The default of an optional attribute.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Default {
    /// No default: the attribute is absent when not set.
    Absent,
    /// A string.
    Str(&'static str),
    /// A number.
    Number(f64),
    /// A bool.
    Bool(bool),
    /// An empty list.
    EmptyList,
    /// An empty map.
    EmptyMap,
}

impl Default {
    /// Returns the default as a value, if there is one.
    pub(crate) fn value(self) -> Option<Value> {
        match self {
            Default::Absent => None,
            Default::Str(text) => Some(Value::string(text)),
            Default::Number(number) => Some(Value::Number(number)),
            Default::Bool(flag) => Some(Value::Bool(flag)),
            Default::EmptyList => Some(Value::List(ThinVec::new())),
            Default::EmptyMap => Some(Value::map(BTreeMap::new())),
        }
    }
}

/// One attribute of a block schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttrSpec {
    /// Attribute name.
    pub name: &'static str,
    /// Type and value rule.
    pub kind: Kind,
    /// Whether the attribute must be set.
    pub required: bool,
    /// Value used when the attribute is not set.
    pub default: Default,
}

const fn required(name: &'static str, kind: Kind) -> AttrSpec {
    AttrSpec { name, kind, required: true, default: Default::Absent }
}

const fn optional(name: &'static str, kind: Kind, default: Default) -> AttrSpec {
    AttrSpec { name, kind, required: false, default }
}

/// The schema of one block type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockSpec {
    /// Block type name as written in the file.
    pub name: &'static str,
    /// Known attributes.
    pub attrs: &'static [AttrSpec],
    /// Nested block types it accepts.
    pub blocks: &'static [&'static str],
    /// Whether attributes outside `attrs` are accepted (provider and
    /// resource blocks pass them on).
    pub open: bool,
}

impl BlockSpec {
    /// Returns the spec of an attribute.
    pub(crate) fn attr(&self, name: &str) -> Option<&'static AttrSpec> {
        self.attrs.iter().find(|attr| attr.name == name)
    }
}

const fn spec(name: &'static str, attrs: &'static [AttrSpec], blocks: &'static [&'static str]) -> BlockSpec {
    BlockSpec { name, attrs, blocks, open: false }
}

/// Top-level block types.
pub(crate) const TOP_LEVEL_BLOCKS: &[&str] = &[
    "tenancy",
    "variable",
    "locals",
    "provider",
    "tier",
    "security_policy",
    "tenant",
    "resource",
    "output",
    "moved",
    "policy",
];

/// Provider types the engine supports.
pub(crate) const PROVIDER_TYPES: &[&str] = &[
    "sqlite",
    "postgres",
    "redis",
    "clickhouse",
    "mongodb",
    "elasticsearch",
    "aws",
    "azure",
    "gcp",
];

/// Database engines of `database "ENGINE"` blocks.
pub(crate) const DATABASE_ENGINES: &[&str] = &["sqlite", "postgres", "redis", "mongodb", "clickhouse", "elasticsearch"];

/// Storage kinds of `storage "KIND"` blocks.
pub(crate) const STORAGE_KINDS: &[&str] = &["gcs", "azure_blob", "s3"];

/// Network kinds of `network "KIND"` blocks.
pub(crate) const NETWORK_KINDS: &[&str] = &["aws"];

/// State backend kinds of `state "KIND"` blocks.
pub(crate) const BACKEND_KINDS: &[&str] = &["local", "postgres", "gcs"];

/// Isolation levels of a tenant database.
pub(crate) const ISOLATION_LEVELS: &[&str] = &["database", "schema", "row"];

/// Data residency zones.
pub(crate) const RESIDENCY_ZONES: &[&str] =
    &["eu", "us", "uk", "ca", "apac", "au", "jp", "in", "br", "ch", "sg", "kr", "za", "me"];

/// Compliance frameworks.
pub(crate) const COMPLIANCE_FRAMEWORKS: &[&str] = &["gdpr", "hipaa", "soc2", "pci_dss", "iso_27001", "ccpa"];

pub(crate) const TENANCY: BlockSpec = spec(
    "tenancy",
    &[optional("parallelism", Kind::Whole { min: 1.0 }, Default::Absent)],
    &["state"],
);

// The state blocks accept exactly the settings that the backends in
// `src/state` read. None of them encrypts state yet, so none accepts
// `encryption_key`.
pub(crate) const STATE_LOCAL: BlockSpec = spec(
    "state \"local\"",
    &[
        optional("path", Kind::String, Default::Str(".tenancy/state.json")),
        optional("lock_timeout", Kind::Duration, Default::Absent),
    ],
    &[],
);

pub(crate) const STATE_POSTGRES: BlockSpec = spec(
    "state \"postgres\"",
    &[
        required("url", Kind::SensitiveString),
        optional("schema", Kind::String, Default::Str("public")),
        optional("table", Kind::String, Default::Str("tenancy_state")),
        optional("name", Kind::String, Default::Str("default")),
        optional("lock_timeout", Kind::Duration, Default::Absent),
    ],
    &[],
);

pub(crate) const STATE_GCS: BlockSpec = spec(
    "state \"gcs\"",
    &[
        required("bucket", Kind::String),
        required("credentials", Kind::String),
        optional("prefix", Kind::String, Default::Str("tenancy")),
        optional("endpoint", Kind::String, Default::Absent),
        optional("lock_timeout", Kind::Number { min: 0.0 }, Default::Absent),
    ],
    &[],
);

pub(crate) const VARIABLE: BlockSpec = spec(
    "variable",
    &[
        optional("type", Kind::Special, Default::Absent),
        optional("default", Kind::Special, Default::Absent),
        optional("description", Kind::String, Default::Absent),
        optional("sensitive", Kind::Bool, Default::Bool(false)),
        optional("nullable", Kind::Bool, Default::Bool(true)),
    ],
    &["validation"],
);

pub(crate) const VALIDATION: BlockSpec = spec(
    "validation",
    &[required("condition", Kind::Special), required("error_message", Kind::String)],
    &[],
);

pub(crate) const PROVIDER: BlockSpec = BlockSpec {
    name: "provider",
    attrs: &[optional("alias", Kind::String, Default::Absent)],
    blocks: &[],
    open: true,
};

pub(crate) const TIER: BlockSpec = spec(
    "tier",
    &[
        required("price", Kind::Number { min: 0.0 }),
        required("currency", Kind::Currency),
        optional("billing_cycle", Kind::OneOf(&["monthly", "quarterly", "yearly"]), Default::Str("monthly")),
        optional("trial_days", Kind::Whole { min: 0.0 }, Default::Number(0.0)),
        optional("description", Kind::String, Default::Absent),
        optional("features", Kind::StringList, Default::EmptyList),
        optional("usage_prices", Kind::NumberMap, Default::EmptyMap),
    ],
    &["limits"],
);

pub(crate) const LIMITS: BlockSpec = spec(
    "limits",
    &[
        optional("storage_gb", Kind::Whole { min: 0.0 }, Default::Absent),
        optional("connections", Kind::Whole { min: 0.0 }, Default::Absent),
        optional("databases", Kind::Whole { min: 0.0 }, Default::Absent),
        optional("requests_per_second", Kind::Whole { min: 0.0 }, Default::Absent),
        optional("seats", Kind::Whole { min: 0.0 }, Default::Absent),
    ],
    &[],
);

pub(crate) const SECURITY_POLICY: BlockSpec = spec(
    "security_policy",
    &[
        optional("encryption_at_rest", Kind::Bool, Default::Bool(true)),
        optional("audit_logging", Kind::Bool, Default::Bool(false)),
        optional("mfa_required", Kind::Bool, Default::Bool(false)),
        optional("tls_min_version", Kind::OneOf(&["1.0", "1.1", "1.2", "1.3"]), Default::Str("1.2")),
        optional("allowed_networks", Kind::CidrList, Default::EmptyList),
        optional("data_residency", Kind::OneOfList(RESIDENCY_ZONES), Default::EmptyList),
        optional("compliance", Kind::OneOfList(COMPLIANCE_FRAMEWORKS), Default::EmptyList),
        optional("password_rotation_days", Kind::Whole { min: 1.0 }, Default::Absent),
        optional("statement_timeout_seconds", Kind::Whole { min: 0.0 }, Default::Absent),
        optional("idle_timeout_seconds", Kind::Whole { min: 0.0 }, Default::Absent),
        optional("retention_days", Kind::Whole { min: 0.0 }, Default::Absent),
    ],
    &[],
);

pub(crate) const TENANT: BlockSpec = spec(
    "tenant",
    &[
        optional("for_each", Kind::Special, Default::Absent),
        optional("id", Kind::Special, Default::Absent),
        required("name", Kind::String),
        required("tier", Kind::Special),
        required("region", Kind::Region),
        optional("security_policy", Kind::Special, Default::Absent),
        optional("labels", Kind::StringMap, Default::EmptyMap),
        optional("status", Kind::OneOf(&["active", "suspended"]), Default::Str("active")),
        optional("contact_email", Kind::Email, Default::Absent),
        optional("depends_on", Kind::Special, Default::Absent),
    ],
    &["database", "storage", "network", "monitoring"],
);

const ISOLATION: AttrSpec = optional("isolation", Kind::OneOf(ISOLATION_LEVELS), Default::Str("database"));
const COMPONENT_PROVIDER: AttrSpec = optional("provider", Kind::Special, Default::Absent);

pub(crate) const DATABASE_SQLITE: BlockSpec = spec(
    "database \"sqlite\"",
    &[
        optional("isolation", Kind::OneOf(&["database"]), Default::Str("database")),
        COMPONENT_PROVIDER,
        optional("journal_mode", Kind::OneOf(&["wal", "delete"]), Default::Str("wal")),
    ],
    &[],
);

pub(crate) const DATABASE_POSTGRES: BlockSpec = spec(
    "database \"postgres\"",
    &[ISOLATION, COMPONENT_PROVIDER, optional("database", Kind::String, Default::Str("tenancy_shared"))],
    &[],
);

pub(crate) const DATABASE_REDIS: BlockSpec = spec(
    "database \"redis\"",
    &[ISOLATION, COMPONENT_PROVIDER, optional("key_prefix", Kind::String, Default::Absent)],
    &[],
);

pub(crate) const DATABASE_OTHER: BlockSpec = spec("database", &[ISOLATION, COMPONENT_PROVIDER], &[]);

pub(crate) const STORAGE: BlockSpec = spec(
    "storage",
    &[
        COMPONENT_PROVIDER,
        optional("versioning", Kind::Bool, Default::Bool(false)),
        optional("retention_days", Kind::Whole { min: 0.0 }, Default::Absent),
        optional("location", Kind::String, Default::Absent),
    ],
    &[],
);

pub(crate) const NETWORK: BlockSpec = spec(
    "network",
    &[
        COMPONENT_PROVIDER,
        required("cidr", Kind::Cidr),
        optional("subnet_count", Kind::Whole { min: 1.0 }, Default::Number(2.0)),
    ],
    &[],
);

pub(crate) const MONITORING: BlockSpec = spec(
    "monitoring",
    &[
        optional("enabled", Kind::Bool, Default::Bool(true)),
        optional("alert_email", Kind::Email, Default::Absent),
        optional("metrics_retention_days", Kind::Whole { min: 1.0 }, Default::Number(30.0)),
    ],
    &[],
);

pub(crate) const RESOURCE: BlockSpec = BlockSpec {
    name: "resource",
    attrs: &[COMPONENT_PROVIDER, optional("depends_on", Kind::Special, Default::Absent)],
    blocks: &[],
    open: true,
};

pub(crate) const OUTPUT: BlockSpec = spec(
    "output",
    &[
        required("value", Kind::Special),
        optional("description", Kind::String, Default::Absent),
        optional("sensitive", Kind::Bool, Default::Bool(false)),
    ],
    &[],
);

pub(crate) const MOVED: BlockSpec = spec("moved", &[required("from", Kind::Special), required("to", Kind::Special)], &[]);

pub(crate) const POLICY: BlockSpec = spec(
    "policy",
    &[
        required("condition", Kind::Special),
        required("error_message", Kind::String),
        optional("severity", Kind::OneOf(&["error", "warning"]), Default::Str("error")),
    ],
    &[],
);

/// Returns the schema of a `database "ENGINE"` block.
pub(crate) fn database_spec(engine: &str) -> BlockSpec {
    match engine {
        "sqlite" => DATABASE_SQLITE,
        "postgres" => DATABASE_POSTGRES,
        "redis" => DATABASE_REDIS,
        _ => DATABASE_OTHER,
    }
}

/// Every block schema, for documentation checks.
#[cfg(test)]
pub(crate) const ALL_SPECS: &[BlockSpec] = &[
    TENANCY,
    STATE_LOCAL,
    STATE_POSTGRES,
    STATE_GCS,
    VARIABLE,
    VALIDATION,
    PROVIDER,
    TIER,
    LIMITS,
    SECURITY_POLICY,
    TENANT,
    DATABASE_SQLITE,
    DATABASE_POSTGRES,
    DATABASE_REDIS,
    DATABASE_OTHER,
    STORAGE,
    NETWORK,
    MONITORING,
    RESOURCE,
    OUTPUT,
    MOVED,
    POLICY,
];

/// The reason a value does not fit an attribute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// True when the value has the wrong type, false when the type is right
    /// but the value is not allowed.
    pub wrong_type: bool,
    /// The problem, naming the value unless it is sensitive.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

fn wrong_type(expected: &str, value: &Value) -> Problem {
    Problem {
        wrong_type: true,
        message: format!("expected {expected}, found {}", type_label(value)),
        help: None,
    }
}

fn invalid(message: String, help: Option<String>) -> Problem {
    Problem { wrong_type: false, message, help }
}

fn shown(value: &Value, text: &str) -> String {
    if value.contains_sensitive() { "(sensitive value)".to_owned() } else { format!("`{text}`") }
}

impl Kind {
    /// Checks a value against this kind and returns it normalized (numbers
    /// from numeric strings, strings from numbers); unknown values pass.
    pub(crate) fn check(self, value: Value) -> Result<Value, Problem> {
        if value.is_unknown() || matches!(self, Kind::Any | Kind::Special) {
            return Ok(value);
        }
        match self {
            Kind::String | Kind::SensitiveString => {
                let text = to_string_form(&value).ok_or_else(|| wrong_type("a string", &value))?;
                let sensitive = value.contains_sensitive() || matches!(self, Kind::SensitiveString);
                Ok(crate::lang::eval::with_mark(Value::string(text), sensitive))
            }
            Kind::Bool => match value.unmarked() {
                Value::Bool(_) => Ok(value),
                _ => Err(wrong_type("a bool", &value)),
            },
            Kind::Number { min } => check_number(value, min, false),
            Kind::Whole { min } => check_number(value, min, true),
            Kind::OneOf(allowed) => check_one_of(&value, allowed).map(|_| value),
            Kind::StringList | Kind::OneOfList(_) | Kind::CidrList => check_list(self, value),
            Kind::StringMap | Kind::NumberMap => check_map(self, value),
            Kind::Currency => check_catalog(value, "an ISO 4217 currency code", catalog::CURRENCIES, true),
            Kind::Region => check_region(value),
            Kind::Cidr => check_cidr(&value, false).map(|_| value),
            Kind::Email => check_email(&value).map(|_| value),
            Kind::Duration => check_duration(value),
            Kind::Any | Kind::Special => Ok(value),
        }
    }
}

fn check_number(value: Value, min: f64, whole: bool) -> Result<Value, Problem> {
    let Some(number) = to_number(&value) else {
        return Err(wrong_type(if whole { "a whole number" } else { "a number" }, &value));
    };
    let text = tenancy_sdk::format_number(number);
    if whole && number.fract() != 0.0 {
        return Err(invalid(format!("{} is not a whole number", shown(&value, &text)), None));
    }
    if number < min {
        let bound = tenancy_sdk::format_number(min);
        return Err(invalid(format!("{} is less than {bound}", shown(&value, &text)), None));
    }
    Ok(crate::lang::eval::with_mark(Value::Number(number), value.contains_sensitive()))
}

fn allowed_list(allowed: &[&str]) -> String {
    allowed.iter().map(|item| format!("`{item}`")).collect::<Vec<_>>().join(", ")
}

fn check_one_of(value: &Value, allowed: &[&str]) -> Result<(), Problem> {
    let Some(text) = value.as_str() else {
        return Err(wrong_type("a string", value));
    };
    if allowed.contains(&text) {
        return Ok(());
    }
    let help = match closest(text, allowed.iter().copied()) {
        Some(candidate) => format!("Did you mean `{candidate}`? Allowed values: {}.", allowed_list(allowed)),
        None => format!("Allowed values: {}.", allowed_list(allowed)),
    };
    Err(invalid(format!("{} is not an allowed value", shown(value, text)), Some(help)))
}

fn check_list(kind: Kind, value: Value) -> Result<Value, Problem> {
    let Some(items) = value.as_list() else {
        return Err(wrong_type("a list of strings", &value));
    };
    let mut checked = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if item.is_unknown() {
            checked.push(item.clone());
            continue;
        }
        let Some(text) = to_string_form(item) else {
            let mut problem = wrong_type("a string", item);
            problem.message = format!("element {index}: {}", problem.message);
            return Err(problem);
        };
        let result = match kind {
            Kind::OneOfList(allowed) => check_one_of(&Value::string(text.clone()), allowed),
            Kind::CidrList => check_cidr(&Value::string(text.clone()), true),
            _ => Ok(()),
        };
        result.map_err(|mut problem| {
            problem.message = format!("element {index}: {}", problem.message);
            problem
        })?;
        checked.push(crate::lang::eval::with_mark(Value::string(text), item.contains_sensitive()));
    }
    Ok(crate::lang::eval::with_mark(Value::list(checked), value.is_sensitive()))
}

fn check_map(kind: Kind, value: Value) -> Result<Value, Problem> {
    let numbers = matches!(kind, Kind::NumberMap);
    let Some(map) = value.as_map() else {
        return Err(wrong_type(if numbers { "a map of numbers" } else { "a map of strings" }, &value));
    };
    let mut checked = BTreeMap::new();
    for (key, item) in map {
        let result = if numbers {
            check_number(item.clone(), 0.0, false)
        } else {
            Kind::String.check(item.clone())
        };
        let item = result.map_err(|mut problem| {
            problem.message = format!("key `{key}`: {}", problem.message);
            problem
        })?;
        checked.insert(key.clone(), item);
    }
    Ok(crate::lang::eval::with_mark(Value::map(checked), value.is_sensitive()))
}

fn check_catalog(value: Value, what: &str, catalog: &[&str], upper: bool) -> Result<Value, Problem> {
    let Some(text) = value.as_str() else {
        return Err(wrong_type("a string", &value));
    };
    if catalog.contains(&text) {
        return Ok(value);
    }
    let probe = if upper { text.to_uppercase() } else { text.to_lowercase() };
    let help = if catalog.contains(&probe.as_str()) {
        Some(format!("Write it as `{probe}`."))
    } else {
        closest(&probe, catalog.iter().copied()).map(|candidate| format!("Did you mean `{candidate}`?"))
    };
    Err(invalid(format!("{} is not {what}", shown(&value, text)), help))
}

fn check_region(value: Value) -> Result<Value, Problem> {
    check_catalog(value, "a known AWS, Azure or GCP region or `local`", &catalog::all_regions(), false)
}

/// Checks an IPv4 CIDR block, or an IPv6 one when `allow_v6` is true.
fn check_cidr(value: &Value, allow_v6: bool) -> Result<(), Problem> {
    let Some(text) = value.as_str() else {
        return Err(wrong_type("a string", value));
    };
    match catalog::parse_cidr(text, allow_v6) {
        Ok(()) => Ok(()),
        Err(reason) => Err(invalid(
            format!("{} is not a valid CIDR block: {reason}", shown(value, text)),
            Some("Write an address and a prefix length, such as `10.0.0.0/16`.".to_owned()),
        )),
    }
}

fn check_duration(value: Value) -> Result<Value, Problem> {
    if value.as_f64().is_none() && value.as_str().is_none() {
        return Err(wrong_type("a number of seconds or a duration string", &value));
    }
    match crate::state::local::parse_timeout(&value) {
        Ok(_) => Ok(value),
        Err(reason) => Err(invalid(
            reason,
            Some("Write a number of seconds, or a whole number with the unit `ms`, `s`, `m` or `h`, such as \"30s\".".to_owned()),
        )),
    }
}

fn check_email(value: &Value) -> Result<(), Problem> {
    let Some(text) = value.as_str() else {
        return Err(wrong_type("a string", value));
    };
    let valid = match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(invalid(format!("{} is not an email address", shown(value, text)), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_suggests_upper_case() {
        let problem = Kind::Currency.check(Value::string("eur")).unwrap_err();
        assert_eq!(problem.help.as_deref(), Some("Write it as `EUR`."));
    }

    #[test]
    fn whole_rejects_fraction() {
        let problem = Kind::Whole { min: 0.0 }.check(Value::Number(1.5)).unwrap_err();
        assert_eq!(problem.message, "`1.5` is not a whole number");
    }

    #[test]
    fn number_accepts_numeric_string() {
        assert_eq!(Kind::Number { min: 0.0 }.check(Value::string("9.5")), Ok(Value::Number(9.5)));
    }

    #[test]
    fn one_of_suggests_close_value() {
        let problem = Kind::OneOf(&["monthly", "yearly"]).check(Value::string("montly")).unwrap_err();
        assert!(problem.help.unwrap().starts_with("Did you mean `monthly`?"));
    }

    #[test]
    fn region_accepts_clouds_and_local() {
        for region in ["eu-central-1", "westeurope", "europe-west3", "local"] {
            assert!(Kind::Region.check(Value::string(region)).is_ok(), "{region}");
        }
    }

    #[test]
    fn cidr_list_reports_element() {
        let list = Value::list(vec![Value::string("10.0.0.0/8"), Value::string("10.0.0.0/33")]);
        let problem = Kind::CidrList.check(list).unwrap_err();
        assert!(problem.message.starts_with("element 1:"), "{}", problem.message);
    }

    #[test]
    fn every_attribute_is_documented() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).unwrap();
        for spec in ALL_SPECS {
            for attr in spec.attrs {
                assert!(docs.contains(&format!("`{}`", attr.name)), "docs/language.md lacks `{}`", attr.name);
            }
            for block in spec.blocks {
                assert!(docs.contains(&format!("`{block}")), "docs/language.md lacks block `{block}`");
            }
        }
    }

    #[test]
    fn local_state_settings_match_backend() {
        let mut attrs = tenancy_sdk::Attrs::new();
        for attr in STATE_LOCAL.attrs {
            let sample = match attr.kind {
                Kind::Duration => Value::string("30s"),
                _ => Value::string("state/production.json"),
            };
            attrs.insert(attr.name.to_owned(), sample);
        }

        let backend = crate::state::LocalBackend::from_settings("/config", &attrs);

        assert!(backend.is_ok(), "{:?}", backend.err());
    }

    #[test]
    fn duration_accepts_seconds_and_units() {
        for value in [Value::Number(30.0), Value::string("30s"), Value::string("500ms"), Value::string("2m")] {
            assert!(Kind::Duration.check(value.clone()).is_ok(), "{value}");
        }
    }

    #[test]
    fn duration_rejects_unknown_unit() {
        let problem = Kind::Duration.check(Value::string("5d")).unwrap_err();

        assert!(!problem.wrong_type);
        assert!(problem.message.contains("unknown unit `d`"), "{}", problem.message);
    }

    #[test]
    fn duration_rejects_bool() {
        let problem = Kind::Duration.check(Value::Bool(true)).unwrap_err();

        assert!(problem.wrong_type);
    }

    #[test]
    fn sensitive_string_gets_mark() {
        let checked = Kind::SensitiveString.check(Value::string("postgres://x")).unwrap();
        assert!(checked.is_sensitive());
    }
}
