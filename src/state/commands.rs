//! Inspecting and editing recorded state: the library side of
//! `tenancy state list`, `state show`, `state rm` and `state mv`.
//!
//! An address filter selects the address itself and every address under
//! it: `tenant.acme` selects `tenant.acme`, `tenant.acme.database.postgres`
//! and `tenant.acme["x"]`, but not `tenant.acme2`. Removing or moving a
//! tenant therefore takes the resources it owns along.

use std::fmt::Write;

use crate::state::backend::StateBackend;
use crate::state::error::StateError;
use tenancy_sdk::ArcStr;

use crate::state::model::{ResourceState, State};

/// Returns true when `address` is `filter` or an address under it.
pub fn address_is_within(address: &str, filter: &str) -> bool {
    match address.strip_prefix(filter) {
        Some("") => true,
        Some(rest) => rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

/// Returns the recorded addresses in order, only those within `filter` when
/// one is given.
pub fn list_addresses<'a>(state: &'a State, filter: Option<&str>) -> Vec<&'a str> {
    match filter {
        None => state.resources.keys().map(ArcStr::as_str).collect(),
        Some(filter) => addresses_within(state, filter).collect(),
    }
}

fn addresses_within<'a>(state: &'a State, filter: &str) -> impl Iterator<Item = &'a str> {
    // Every address under `filter` starts with it, so they are adjacent in
    // the sorted map and a range scan finds them.
    state
        .resources
        .range::<str, _>((
            std::ops::Bound::Included(filter),
            std::ops::Bound::Unbounded,
        ))
        .map(|(address, _)| address.as_str())
        .take_while(move |address| address.starts_with(filter))
        .filter(move |address| address_is_within(address, filter))
}

/// Returns the resource recorded at exactly `address`.
pub fn show_resource<'a>(state: &'a State, address: &str) -> Result<&'a ResourceState, StateError> {
    state
        .resource(address)
        .ok_or_else(|| StateError::ResourceNotFound {
            address: address.to_owned(),
        })
}

/// Renders a resource for people: a header with its type, provider and
/// dependencies, then one `name = value` line per attribute, with sensitive
/// values shown as `(sensitive value)`.
pub fn render_resource(resource: &ResourceState) -> String {
    let mut text = format!(
        "# {} ({}, provider {})\n",
        resource.address, resource.type_name, resource.provider
    );
    if !resource.dependencies.is_empty() {
        let _ = writeln!(text, "# depends on: {}", resource.dependencies.join(", "));
    }
    let width = resource.attrs.keys().map(|name| name.len()).max().unwrap_or(0);
    for (name, value) in &resource.attrs {
        crate::render::push_padded(&mut text, name, width);
        let _ = writeln!(text, " = {value}");
    }
    text
}

/// Removes the resource at `address` and every resource under it, returning
/// the removed addresses.
pub fn remove_resources(state: &mut State, address: &str) -> Result<Vec<String>, StateError> {
    let removed: Vec<String> = addresses_within(state, address)
        .map(str::to_owned)
        .collect();
    if removed.is_empty() {
        return Err(StateError::ResourceNotFound {
            address: address.to_owned(),
        });
    }
    for address in &removed {
        state.remove_resource(address);
    }
    Ok(removed)
}

/// Moves the resource at `from` and every resource under it to `to`,
/// rewriting the dependencies that name them; returns the `(from, to)`
/// address pairs.
pub fn move_resources(
    state: &mut State,
    from: &str,
    to: &str,
) -> Result<Vec<(String, String)>, StateError> {
    let invalid = |reason: &str| StateError::InvalidMove {
        from: from.to_owned(),
        to: to.to_owned(),
        reason: reason.to_owned(),
    };
    if let Err(problem) = check_address(to) {
        return Err(invalid(&format!(
            "the destination is not a valid address: {problem}. Write it as `TYPE.NAME`, `tenant.NAME`, \
             `tenant.NAME[\"key\"]` or an address under one of these, such as `tenant.NAME.database.ENGINE`"
        )));
    }
    if address_is_within(to, from) {
        return Err(invalid("the destination lies inside the source"));
    }

    let moves: Vec<(String, String)> = addresses_within(state, from)
        .map(|address| {
            (
                address.to_owned(),
                format!("{to}{}", &address[from.len()..]),
            )
        })
        .collect();
    if moves.is_empty() {
        return Err(StateError::ResourceNotFound {
            address: from.to_owned(),
        });
    }
    if let Some((_, taken)) = moves
        .iter()
        .find(|(_, target)| state.resources.contains_key(target.as_str()))
    {
        return Err(StateError::AddressExists {
            address: taken.clone(),
        });
    }

    for (source, target) in &moves {
        if let Some(mut resource) = state.remove_resource(source) {
            resource.address = target.clone().into();
            state.upsert_resource(resource);
        }
    }
    for resource in state.resources.values_mut() {
        for dependency in &mut resource.dependencies {
            if address_is_within(dependency, from) {
                *dependency = format!("{to}{}", &dependency[from.len()..]).into();
            }
        }
    }
    Ok(moves)
}

/// Checks the syntax of a resource address: two or more names separated by
/// `.`, where a name may be followed by an instance key in brackets, such as
/// `tier.pro`, `tenant.shop["alpha"].database.postgres` or `tenant.x[0]`.
///
/// A name starts with a letter or `_` and goes on with letters, digits, `_`
/// and `-`. A string key is written as a JSON string in the form that the
/// engine records, so that one key has one address.
///
/// # Errors
///
/// Returns the first problem, naming the character where it is.
pub fn check_address(address: &str) -> Result<(), String> {
    let mut rest = address;
    let mut names = 0;
    loop {
        let position = address.len() - rest.len();
        let length = rest
            .char_indices()
            .find(|&(index, ch)| {
                !(ch.is_alphabetic()
                    || ch == '_'
                    || (index > 0 && (ch.is_alphanumeric() || ch == '-')))
            })
            .map_or(rest.len(), |(index, _)| index);
        if length == 0 {
            return Err(match rest.chars().next() {
                Some(ch) => format!(
                    "expected a name at character {}, found `{ch}`",
                    position + 1
                ),
                None if position == 0 => "the address is empty".to_owned(),
                None => format!("expected a name after `{address}`"),
            });
        }
        names += 1;
        rest = &rest[length..];
        if rest.starts_with('[') {
            let key_length = instance_key_length(rest).map_err(|problem| {
                format!(
                    "{problem} in the instance key at character {}",
                    address.len() - rest.len() + 1
                )
            })?;
            rest = &rest[key_length..];
        }
        match rest.chars().next() {
            None if names >= 2 => return Ok(()),
            None => {
                return Err(format!(
                    "`{address}` has one name, and an address has at least two, such as `tier.pro`"
                ));
            }
            Some('.') => rest = &rest[1..],
            Some(ch) => {
                let position = address.len() - rest.len() + 1;
                return Err(format!("unexpected `{ch}` at character {position}"));
            }
        }
    }
}

/// Returns the length of the instance key at the start of `text`, from `[`
/// to `]`: a whole number, or a string in the JSON form the engine records.
fn instance_key_length(text: &str) -> Result<usize, String> {
    let inner = &text[1..];
    if inner.starts_with('"') {
        let mut escaped = false;
        let close = inner
            .char_indices()
            .skip(1)
            .find(|&(_, ch)| {
                let closes = ch == '"' && !escaped;
                escaped = ch == '\\' && !escaped;
                closes
            })
            .map(|(index, _)| index)
            .ok_or("missing closing `\"`")?;
        let quoted = &inner[..=close];
        let key: String = serde_json::from_str(quoted).map_err(|_| "invalid escape".to_owned())?;
        if crate::config::quote_key(&key) != quoted {
            return Err(format!(
                "the key is not written as {}",
                crate::config::quote_key(&key)
            ));
        }
        if !inner[close + 1..].starts_with(']') {
            return Err("missing closing `]`".to_owned());
        }
        return Ok(close + 3);
    }
    let digits = inner
        .find(|ch: char| !ch.is_ascii_digit())
        .unwrap_or(inner.len());
    if digits == 0 {
        return Err("expected a quoted string or a whole number".to_owned());
    }
    if !inner[digits..].starts_with(']') {
        return Err("missing closing `]`".to_owned());
    }
    Ok(digits + 2)
}

/// Removes `address` and what it owns from the stored state under the state
/// lock, writing a new serial; returns the removed addresses.
pub fn state_rm(backend: &dyn StateBackend, address: &str) -> Result<Vec<String>, StateError> {
    edit_stored_state(backend, "state rm", |state| {
        remove_resources(state, address)
    })
}

/// Moves `from` and what it owns to `to` in the stored state under the
/// state lock, writing a new serial; returns the `(from, to)` pairs.
pub fn state_mv(
    backend: &dyn StateBackend,
    from: &str,
    to: &str,
) -> Result<Vec<(String, String)>, StateError> {
    edit_stored_state(backend, "state mv", |state| move_resources(state, from, to))
}

fn edit_stored_state<T>(
    backend: &dyn StateBackend,
    operation: &str,
    edit: impl FnOnce(&mut State) -> Result<T, StateError>,
) -> Result<T, StateError> {
    let lock = backend.lock(operation)?;
    let mut state = backend.read()?.unwrap_or_default();
    let outcome = edit(&mut state)?;
    backend.write(&mut state)?;
    lock.unlock()?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::local::LocalBackend;
    use tenancy_sdk::{Attrs, Value};

    fn sample_state() -> State {
        let mut state = State::new();
        for address in [
            "tenant.acme",
            "tenant.acme.database.postgres",
            "tenant.acme.storage.files",
            "tenant.acme2",
            "tenant.studios[\"berlin\"]",
            "tenant.studios[\"berlin\"].database.sqlite",
            "tenant.studios[\"paris\"]",
        ] {
            let mut attrs = Attrs::new();
            attrs.insert("id".to_owned(), Value::string(address));
            state.upsert_resource(ResourceState::new(
                address,
                "catalog_tenant",
                "sqlite",
                attrs,
            ));
        }
        state
            .resources
            .get_mut("tenant.acme2")
            .unwrap()
            .dependencies
            .push("tenant.acme.database.postgres".to_owned().into());
        state
    }

    #[test]
    fn within_respects_segment_boundaries() {
        assert!(address_is_within("tenant.acme", "tenant.acme"));
        assert!(address_is_within("tenant.acme.database.pg", "tenant.acme"));
        assert!(address_is_within("tenant.studios[\"x\"]", "tenant.studios"));
        assert!(!address_is_within("tenant.acme2", "tenant.acme"));
        assert!(!address_is_within("tenant.ac", "tenant.acme"));
    }

    #[test]
    fn list_filters_by_prefix() {
        let state = sample_state();

        assert_eq!(list_addresses(&state, None).len(), 7);
        assert_eq!(
            list_addresses(&state, Some("tenant.acme")),
            [
                "tenant.acme",
                "tenant.acme.database.postgres",
                "tenant.acme.storage.files"
            ]
        );
        assert_eq!(list_addresses(&state, Some("tenant.studios")).len(), 3);
        assert!(list_addresses(&state, Some("tenant.none")).is_empty());
    }

    #[test]
    fn show_hides_sensitive_values() {
        let mut attrs = Attrs::new();
        attrs.insert("name".to_owned(), Value::string("acme"));
        attrs.insert(
            "password".to_owned(),
            Value::sensitive(Value::string("hunter2")),
        );
        let mut resource = ResourceState::new(
            "tenant.acme.database.postgres",
            "postgres_database",
            "postgres.eu",
            attrs,
        );
        resource.dependencies.push("tenant.acme".to_owned().into());
        let mut state = State::new();
        state.upsert_resource(resource);

        let text = render_resource(show_resource(&state, "tenant.acme.database.postgres").unwrap());

        assert_eq!(
            text,
            "# tenant.acme.database.postgres (postgres_database, provider postgres.eu)\n\
             # depends on: tenant.acme\n\
             name     = \"acme\"\n\
             password = (sensitive value)\n"
        );
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn show_unknown_address_fails() {
        let error = show_resource(&sample_state(), "tenant.none").unwrap_err();

        assert!(matches!(error, StateError::ResourceNotFound { .. }));
    }

    #[test]
    fn remove_takes_owned_resources() {
        let mut state = sample_state();

        let removed = remove_resources(&mut state, "tenant.acme").unwrap();

        assert_eq!(removed.len(), 3);
        assert!(state.resource("tenant.acme2").is_some());
        assert_eq!(state.resources.len(), 4);
    }

    #[test]
    fn remove_unknown_address_fails() {
        let mut state = sample_state();

        let error = remove_resources(&mut state, "tenant.ac").unwrap_err();

        assert!(matches!(error, StateError::ResourceNotFound { .. }));
        assert_eq!(state.resources.len(), 7);
    }

    #[test]
    fn move_renames_subtree_and_dependencies() {
        let mut state = sample_state();

        let moves = move_resources(&mut state, "tenant.acme", "tenant.acme_corp").unwrap();

        assert_eq!(moves.len(), 3);
        assert_eq!(
            list_addresses(&state, Some("tenant.acme_corp")),
            [
                "tenant.acme_corp",
                "tenant.acme_corp.database.postgres",
                "tenant.acme_corp.storage.files"
            ]
        );
        let moved = state
            .resource("tenant.acme_corp.database.postgres")
            .unwrap();
        assert_eq!(moved.address, "tenant.acme_corp.database.postgres");
        assert_eq!(
            state.resource("tenant.acme2").unwrap().dependencies,
            ["tenant.acme_corp.database.postgres"]
        );
    }

    #[test]
    fn move_onto_existing_address_fails() {
        let mut state = sample_state();
        let before = state.clone();

        let error = move_resources(
            &mut state,
            "tenant.studios[\"paris\"]",
            "tenant.studios[\"berlin\"]",
        )
        .unwrap_err();

        assert!(
            matches!(error, StateError::AddressExists { .. }),
            "{error:?}"
        );
        assert_eq!(state, before);
    }

    #[test]
    fn move_into_itself_fails() {
        let mut state = sample_state();

        let error = move_resources(&mut state, "tenant.acme", "tenant.acme.inner").unwrap_err();

        assert!(matches!(error, StateError::InvalidMove { .. }), "{error:?}");
    }

    #[test]
    fn addresses_of_the_engine_are_valid() {
        for address in [
            "tier.pro",
            "security_policy.eu_strict",
            "tenant.acme",
            "tenant.acme.subscription",
            "tenant.shop[\"alpha\"]",
            "tenant.shop[\"alpha\"].database.postgres",
            "tenant.shop[\"a \\\"b\\\" ü\"]",
            "tenant.acme.network.aws.subnet[1]",
            "postgres_role.read-only",
            "tenant.café",
        ] {
            assert_eq!(check_address(address), Ok(()), "{address}");
        }
    }

    #[test]
    fn malformed_addresses_are_invalid() {
        let cases = [
            ("", "empty"),
            ("tenant", "one name"),
            ("bad addr!", "unexpected ` ` at character 4"),
            ("bad!", "unexpected `!` at character 4"),
            ("tenant.", "expected a name after `tenant.`"),
            ("tenant..x", "expected a name at character 8, found `.`"),
            ("1tenant.x", "expected a name at character 1, found `1`"),
            ("tenant.x[a]", "expected a quoted string or a whole number"),
            ("tenant.x[\"a]", "missing closing `\"`"),
            ("tenant.x[\"a\"", "missing closing `]`"),
            ("tenant.x[\"\\u0061\"]", "not written as \"a\""),
            ("tenant.x[\"a\"]x", "unexpected `x`"),
        ];
        for (address, expected) in cases {
            let problem = check_address(address).unwrap_err();

            assert!(problem.contains(expected), "{address}: {problem}");
        }
    }

    #[test]
    fn move_to_malformed_address_fails() {
        let mut state = sample_state();
        let before = state.clone();

        for destination in ["bad!", "tenant.acme_corp[x]", "tenant"] {
            let error = move_resources(&mut state, "tenant.acme", destination).unwrap_err();

            assert!(
                matches!(error, StateError::InvalidMove { .. }),
                "{destination}: {error:?}"
            );
            assert!(error.to_string().contains("not a valid address"), "{error}");
        }
        assert_eq!(state, before);
    }

    #[test]
    fn move_under_indexed_source_fails() {
        let mut state = sample_state();

        let error =
            move_resources(&mut state, "tenant.studios", "tenant.studios[\"rome\"]").unwrap_err();

        assert!(error.to_string().contains("inside the source"), "{error}");
    }

    #[test]
    fn state_rm_writes_new_serial() {
        let directory = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(directory.path());
        let mut state = sample_state();
        backend.write(&mut state).unwrap();

        let removed = state_rm(&backend, "tenant.studios").unwrap();

        assert_eq!(removed.len(), 3);
        let stored = backend.read().unwrap().unwrap();
        assert_eq!(stored.serial, 2);
        assert_eq!(stored.resources.len(), 4);
        assert!(!backend.lock_path().exists());
    }

    #[test]
    fn state_mv_writes_new_serial() {
        let directory = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(directory.path());
        let mut state = sample_state();
        backend.write(&mut state).unwrap();

        state_mv(&backend, "tenant.acme2", "tenant.beta").unwrap();

        let stored = backend.read().unwrap().unwrap();
        assert_eq!(stored.serial, 2);
        assert!(stored.resource("tenant.beta").is_some());
        assert!(stored.resource("tenant.acme2").is_none());
    }

    #[test]
    fn state_rm_without_state_fails() {
        let directory = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(directory.path());

        let error = state_rm(&backend, "tenant.acme").unwrap_err();

        assert!(matches!(error, StateError::ResourceNotFound { .. }));
        assert!(!backend.path().exists());
    }
}
