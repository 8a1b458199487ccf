//! The claims the provider states about a person, alike in the id token,
//! the access token and the userinfo answer, always computed afresh (a
//! disabled person or a revoked grant shows on the next refresh and
//! userinfo call).
//!
//! * `sub`: the user id as a string (the same for every client);
//!   the identity claims below come whatever the scopes;
//! * `email`, `email_verified` (true: logins require a verified e-mail);
//! * `name`, `given_name`, `family_name`: never empty. A name splits at its
//!   last space ("Ada King Lovelace" → "Ada King", "Lovelace"); a one-word
//!   name is both given and family name; without a name, the e-mail's local
//!   part is used the same way, split at `.`, `_` or `-` and capitalised;
//! * `picture` when known;
//! * `groups` (scope `groups`): the person's groups;
//! * `datasets` (scope `datasets`): `{dataset: [levels]}` after terms of
//!   service, limited to the datasets the client serves.

use dsg_store::oidc::OidcClient;
use dsg_store::tokens::PrincipalRef;
use serde_json::{Map, Value, json};

use super::super::ServiceError;
use crate::state::AppState;

/// `(given, family)`, both non-empty, from a full name or an e-mail.
pub fn split_name(name: &str, email: &str) -> (String, String) {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((given, family)) = name.rsplit_once(' ') {
        return (given.to_owned(), family.to_owned());
    }
    if !name.is_empty() {
        return (name.clone(), name);
    }
    let local = email.split('@').next().unwrap_or(email);
    let parts: Vec<String> = local
        .split(['.', '_', '-', '+'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    match parts.as_slice() {
        [] => ("User".into(), "User".into()),
        [one] => (one.clone(), one.clone()),
        [first @ .., last] => (first.join(" "), last.clone()),
    }
}

/// The person's claims for `client` and `scopes`; `None` when the person is
/// unknown or disabled.
///
/// # Errors
/// The store's.
pub async fn of(
    state: &AppState,
    user_id: i64,
    client: &OidcClient,
    scopes: &[String],
) -> Result<Option<Map<String, Value>>, ServiceError> {
    let Some(user) = state.store.load_user(user_id).await? else {
        return Ok(None);
    };
    if !user.active || user.facts.parent_id.is_some() {
        return Ok(None);
    }
    let f = &user.facts;
    let full = if f.name.trim().is_empty() {
        &f.public_name
    } else {
        &f.name
    };
    let (given, family) = split_name(full, &f.email);
    let name = if full.trim().is_empty() {
        format!("{given} {family}")
    } else {
        full.trim().to_owned()
    };
    let mut out = Map::new();
    out.insert("sub".into(), json!(user_id.to_string()));
    let has = |s: &str| scopes.iter().any(|x| x == s);
    // Identity claims come with every token, whatever the scopes: tools
    // such as WebKnossos refuse a login without them.
    out.insert("email".into(), json!(f.email));
    out.insert("email_verified".into(), json!(true));
    out.insert("name".into(), json!(name));
    out.insert("given_name".into(), json!(given));
    out.insert("family_name".into(), json!(family));
    if !f.picture_url.is_empty() {
        out.insert("picture".into(), json!(f.picture_url));
    }
    if has("groups") || has("datasets") {
        let now = state.clock.now();
        let doc = state
            .cache
            .document_for(PrincipalRef::User(user_id), now)
            .await?;
        let body: Value = doc
            .as_ref()
            .and_then(|d| serde_json::from_slice(&d.body).ok())
            .unwrap_or_default();
        if has("groups") {
            out.insert("groups".into(), body["groups"].clone());
        }
        if has("datasets") {
            let mut datasets = Map::new();
            if let Some(all) = body["permissions_v2"].as_object() {
                for (name, levels) in all {
                    if client.datasets.iter().any(|d| d == name) {
                        let mut names: Vec<&str> = levels
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        // Levels in level order, other names after them.
                        names.sort_by_key(|n| {
                            (dsg_core::Level::parse(n).map_or(u8::MAX, |l| l as u8), *n)
                        });
                        datasets.insert(name.clone(), json!(names));
                    }
                }
            }
            out.insert("datasets".into(), Value::Object(datasets));
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_never_empty() {
        let s = |n: &str, e: &str| split_name(n, e);
        assert_eq!(s("Ada Lovelace", "x@y"), ("Ada".into(), "Lovelace".into()));
        assert_eq!(
            s(" Ada  King   Lovelace ", "x@y"),
            ("Ada King".into(), "Lovelace".into())
        );
        assert_eq!(s("Plato", "x@y"), ("Plato".into(), "Plato".into()));
        assert_eq!(
            s("", "ada.lovelace@x.org"),
            ("Ada".into(), "Lovelace".into())
        );
        assert_eq!(
            s("", "grace_b_hopper@x.org"),
            ("Grace B".into(), "Hopper".into())
        );
        assert_eq!(s("", "root@x.org"), ("Root".into(), "Root".into()));
        assert_eq!(s("", "@x.org"), ("User".into(), "User".into()));
    }
}
