//! ACL rules of a tenant user: how they are built from the resource
//! attributes, checked, and read back from `ACL GETUSER`.

use sha2::{Digest, Sha256};
use tenancy_sdk::{Attrs, Value};

use crate::error::Error;

/// The prefix of every tenant user name: tenant `acme` is `tenant_acme`.
pub const USER_PREFIX: &str = "tenant_";

/// The command rules a tenant gets when configuration names none.
pub const DEFAULT_CATEGORIES: &[&str] = &["+@all"];

/// The rule a strict policy adds: no commands of the `@dangerous` category
/// (FLUSHALL, CONFIG, DEBUG, KEYS and the like).
pub const STRICT_RULE: &str = "-@dangerous";

/// One tenant's user as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    /// The tenant id.
    pub tenant_id: String,
    /// The ACL user name, `tenant_<id>`.
    pub username: String,
    /// The key and channel namespace.
    pub key_prefix: String,
    /// Whether the strict policy applies.
    pub strict: bool,
    /// The command rules in order, with the strict rule appended.
    pub command_categories: Vec<String>,
}

impl UserSpec {
    /// Builds the spec from resource attributes, filling in defaults:
    /// `key_prefix` is the tenant id, and `command_categories` is `+@all`
    /// followed by `-@dangerous` when `strict` is set.
    pub fn from_attrs(attrs: &Attrs) -> Result<UserSpec, Error> {
        let tenant_id = match attrs.get("tenant_id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => return Err(Error::Invalid("`tenant_id` is required and must be a string".into())),
        };
        check_tenant_id(&tenant_id)?;
        let key_prefix = match attrs.get("key_prefix").filter(|value| !value.is_null()) {
            Some(value) => value
                .as_str()
                .ok_or_else(|| Error::Invalid(format!("`key_prefix` must be a string, found {}", value.type_name())))?
                .to_owned(),
            None => tenant_id.clone(),
        };
        check_key_prefix(&key_prefix)?;
        let strict = match attrs.get("strict").filter(|value| !value.is_null()) {
            Some(value) => value
                .as_bool()
                .ok_or_else(|| Error::Invalid(format!("`strict` must be a bool, found {}", value.type_name())))?,
            None => false,
        };
        let command_categories = effective_categories(attrs.get("command_categories"), strict)?;
        Ok(UserSpec {
            username: format!("{USER_PREFIX}{tenant_id}"),
            tenant_id,
            key_prefix,
            strict,
            command_categories,
        })
    }

    /// Returns the key pattern rule, `~<prefix>:*`.
    pub fn key_pattern(&self) -> String {
        format!("~{}:*", self.key_prefix)
    }

    /// Returns the channel pattern rule, `&<prefix>:*`.
    pub fn channel_pattern(&self) -> String {
        format!("&{}:*", self.key_prefix)
    }

    /// Returns the arguments of `ACL SETUSER` after the user name. `reset`
    /// clears passwords, keys, channels and commands first, so the result
    /// does not depend on what the user had before.
    pub fn setuser_rules(&self, password_hash: &str) -> Vec<String> {
        let mut rules = vec![
            "reset".to_owned(),
            "on".to_owned(),
            format!("#{password_hash}"),
            "resetkeys".to_owned(),
            self.key_pattern(),
            "resetchannels".to_owned(),
            self.channel_pattern(),
        ];
        rules.extend(self.command_categories.iter().cloned());
        rules
    }
}

/// Returns the SHA-256 of a password in hex, the form `ACL SETUSER #…`
/// takes and `ACL GETUSER` shows, so the plaintext never reaches the server.
pub fn password_hash(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

fn effective_categories(value: Option<&Value>, strict: bool) -> Result<Vec<String>, Error> {
    let mut categories = match value.filter(|value| !value.is_null()) {
        None => DEFAULT_CATEGORIES.iter().map(|rule| (*rule).to_owned()).collect(),
        Some(value) => {
            let items = value.as_list().ok_or_else(|| {
                Error::Invalid(format!("`command_categories` must be a list of strings, found {}", value.type_name()))
            })?;
            let mut rules = Vec::with_capacity(items.len());
            for item in items {
                let rule = item.as_str().ok_or_else(|| {
                    Error::Invalid(format!("`command_categories` must contain strings, found {}", item.type_name()))
                })?;
                check_command_rule(rule)?;
                rules.push(rule.to_owned());
            }
            rules
        }
    };
    if strict && categories.last().map(String::as_str) != Some(STRICT_RULE) {
        categories.push(STRICT_RULE.to_owned());
    }
    Ok(categories)
}

/// Checks a tenant id: `[a-z_][a-z0-9_]*`.
pub fn check_tenant_id(tenant_id: &str) -> Result<(), Error> {
    let mut chars = tenant_id.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "tenant id `{}` is invalid: it must match [a-z_][a-z0-9_]*",
            tenant_id.escape_debug()
        )))
    }
}

/// Checks a key prefix: letters, digits and `_ . : -`, so that it adds no
/// glob characters to the key pattern and no spaces to the rule.
pub fn check_key_prefix(prefix: &str) -> Result<(), Error> {
    let valid = !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "key prefix `{}` is invalid: use letters, digits and `_ . : -` only",
            prefix.escape_debug()
        )))
    }
}

/// Checks one command rule: `+@category`, `-@category`, `+command`,
/// `-command`, `+command|subcommand`, `allcommands` or `nocommands`. Rules
/// that touch passwords, keys, channels or the user's state are rejected,
/// because the provider sets those itself.
pub fn check_command_rule(rule: &str) -> Result<(), Error> {
    if rule == "allcommands" || rule == "nocommands" {
        return Ok(());
    }
    let body = rule.strip_prefix('+').or_else(|| rule.strip_prefix('-'));
    let body = body.map(|body| body.strip_prefix('@').unwrap_or(body));
    let valid = body.is_some_and(|body| {
        !body.is_empty()
            && body
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '|'))
    });
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "command rule `{}` is invalid: write `+@category`, `-@category`, `+command` or `-command`",
            rule.escape_debug()
        )))
    }
}

/// A user as `ACL GETUSER` returns it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInfo {
    /// Flags such as `on`, `off`, `nopass`.
    pub flags: Vec<String>,
    /// SHA-256 hashes of the passwords.
    pub passwords: Vec<String>,
    /// The command rules as Redis renders them.
    pub commands: String,
    /// The key patterns, such as `~acme:*`.
    pub keys: String,
    /// The channel patterns, such as `&acme:*`.
    pub channels: String,
}

impl UserInfo {
    /// Parses an `ACL GETUSER` reply: a map (RESP3) or a flat list of
    /// alternating names and values (RESP2). Returns `None` for a nil reply.
    pub fn parse(reply: &redis::Value) -> Option<UserInfo> {
        let pairs: Vec<(&redis::Value, &redis::Value)> = match reply {
            redis::Value::Map(map) => map.iter().map(|(key, value)| (key, value)).collect(),
            redis::Value::Array(items) => items.chunks(2).filter_map(|pair| Some((pair.first()?, pair.get(1)?))).collect(),
            _ => return None,
        };
        let mut info = UserInfo::default();
        for (key, value) in pairs {
            match text(key).as_deref() {
                Some("flags") => info.flags = list(value),
                Some("passwords") => info.passwords = list(value),
                Some("commands") => info.commands = text(value).unwrap_or_default(),
                Some("keys") => info.keys = text_or_joined(value),
                Some("channels") => info.channels = text_or_joined(value),
                _ => {}
            }
        }
        Some(info)
    }
}

fn text(value: &redis::Value) -> Option<String> {
    match value {
        redis::Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        redis::Value::SimpleString(text) => Some(text.clone()),
        redis::Value::VerbatimString { text, .. } => Some(text.clone()),
        redis::Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn list(value: &redis::Value) -> Vec<String> {
    match value {
        redis::Value::Array(items) | redis::Value::Set(items) => items.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// Redis 6 returns key patterns as a list and Redis 7 as one string.
fn text_or_joined(value: &redis::Value) -> String {
    match value {
        redis::Value::Array(_) | redis::Value::Set(_) => list(value).join(" "),
        other => text(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    #[test]
    fn defaults_follow_tenant_id_and_strict() {
        let spec = UserSpec::from_attrs(&attrs(&[("tenant_id", "acme".into()), ("strict", true.into())])).unwrap();

        assert_eq!(spec.username, "tenant_acme");
        assert_eq!(spec.key_pattern(), "~acme:*");
        assert_eq!(spec.channel_pattern(), "&acme:*");
        assert_eq!(spec.command_categories, vec!["+@all", "-@dangerous"]);
    }

    #[test]
    fn strict_rule_is_not_repeated() {
        let categories = Value::list(vec!["+@read".into(), "-@dangerous".into()]);

        let spec = UserSpec::from_attrs(&attrs(&[
            ("tenant_id", "acme".into()),
            ("strict", true.into()),
            ("command_categories", categories),
        ]))
        .unwrap();

        assert_eq!(spec.command_categories, vec!["+@read", "-@dangerous"]);
    }

    #[test]
    fn rules_that_widen_access_are_rejected() {
        for rule in ["~*", "allkeys", "nopass", ">secret", "+@all ~*", "on", "resetpass"] {
            assert!(check_command_rule(rule).is_err(), "{rule}");
        }
        for rule in ["+@all", "-@dangerous", "+get", "-config|set", "allcommands"] {
            assert!(check_command_rule(rule).is_ok(), "{rule}");
        }
    }

    #[test]
    fn key_prefix_rejects_glob_characters() {
        assert!(check_key_prefix("acme*").is_err());
        assert!(check_key_prefix("a b").is_err());
        assert!(check_key_prefix("").is_err());
        assert!(check_key_prefix("app:acme-1").is_ok());
    }

    #[test]
    fn setuser_rules_reset_before_setting() {
        let spec = UserSpec::from_attrs(&attrs(&[("tenant_id", "acme".into())])).unwrap();

        let rules = spec.setuser_rules("abc");

        assert_eq!(rules, vec!["reset", "on", "#abc", "resetkeys", "~acme:*", "resetchannels", "&acme:*", "+@all"]);
    }

    #[test]
    fn getuser_reply_parses_resp2_list() {
        let bulk = |text: &str| redis::Value::BulkString(text.as_bytes().to_vec());
        let reply = redis::Value::Array(vec![
            bulk("flags"),
            redis::Value::Array(vec![bulk("on")]),
            bulk("passwords"),
            redis::Value::Array(vec![bulk("ab12")]),
            bulk("commands"),
            bulk("+@all -@dangerous"),
            bulk("keys"),
            bulk("~acme:*"),
            bulk("channels"),
            bulk("&acme:*"),
        ]);

        let info = UserInfo::parse(&reply).unwrap();

        assert_eq!(info.flags, vec!["on"]);
        assert_eq!(info.passwords, vec!["ab12"]);
        assert_eq!(info.commands, "+@all -@dangerous");
        assert_eq!(info.keys, "~acme:*");
        assert_eq!(info.channels, "&acme:*");
        assert_eq!(UserInfo::parse(&redis::Value::Nil), None);
    }

    #[test]
    fn password_hash_is_sha256_hex() {
        assert_eq!(
            password_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
