//! The `dsg seed` document, which the spec calls a fixture
//! (shared/spec/fixture-format.md): production input, not test scaffolding.
//! Its types and the parse-and-check step, without I/O. `dsg-store` applies
//! a parsed [`Fixture`] in one transaction; the field meanings are the spec's.
//!
//! Parsing refuses malformed JSON and unknown top-level keys (only
//! `_`-prefixed comments may stand beside the sections); unknown keys inside
//! a section's entries are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::DomainError;

/// Distinguishes a missing key (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The whole fixture document; every section is optional.
#[derive(Debug, Default, Deserialize)]
pub struct Fixture {
    pub permissions: Option<Vec<String>>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    #[serde(default)]
    pub datasets: Vec<DatasetSpec>,
    #[serde(default)]
    pub tos: Vec<TosSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub memberships: Vec<MembershipSpec>,
    #[serde(default)]
    pub grants: Vec<GrantSpec>,
    pub tokens: Option<Vec<ExtraTokenSpec>>,
    #[serde(default)]
    pub tos_acceptances: Vec<AcceptanceSpec>,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSpec>,
    #[serde(default)]
    pub translations: Vec<TranslationSpec>,
    #[serde(default)]
    pub registered_clients: Vec<ClientSpec>,
    #[serde(default)]
    pub oidc_clients: Vec<OidcClientSpec>,
    /// Keys no section has: only `_`-prefixed comments are allowed.
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The fixture's sections, for the message about an unknown key.
const SECTIONS: &str = "permissions, services, datasets, tos, users, groups, memberships, \
     grants, tokens, tos_acceptances, service_accounts, translations, registered_clients, oidc_clients";

/// An OpenID Connect client of DSG as a provider (`oidc_clients[]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcClientSpec {
    pub key: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub datasets: Vec<String>,
}

/// A registered web client (`registered_clients[]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub key: String,
    pub origin: String,
    pub name: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub allowed_services: Vec<String>,
}

/// A service (`services[]`).
#[derive(Debug, Deserialize)]
pub struct ServiceSpec {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub base_url: String,
    /// `linear` (default) or `dag`.
    pub version_eval_mode: Option<String>,
}

impl ServiceSpec {
    /// The version evaluation mode.
    ///
    /// # Errors
    /// Anything but `linear` or `dag`.
    pub fn mode(&self) -> Result<crate::permissions::VersionEvalMode, crate::DomainError> {
        match self.version_eval_mode.as_deref() {
            None => Ok(crate::permissions::VersionEvalMode::default()),
            Some(m) => crate::permissions::VersionEvalMode::parse(m).ok_or_else(|| {
                crate::DomainError::Invalid(format!(
                    "service {:?}: version_eval_mode must be \"linear\" or \"dag\", not {m:?}",
                    self.name
                ))
            }),
        }
    }
}

/// A service's name for a dataset or one of its versions (`translations[]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslationSpec {
    pub service: String,
    pub client_name: String,
    pub client_version: Option<String>,
    pub dataset: String,
    pub version: Option<String>,
}

/// A dataset with its buckets, versions and service tables (`datasets[]`).
#[derive(Debug, Deserialize)]
pub struct DatasetSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "closed")]
    pub access_mode: String,
    pub tos: Option<TosRef>,
    #[serde(default)]
    pub buckets: Vec<String>,
    #[serde(default)]
    pub versions: Vec<VersionSpec>,
    #[serde(default)]
    pub service_tables: Vec<ServiceTableSpec>,
}

fn closed() -> String {
    "closed".into()
}

/// A TOS named by fixture key or by integer id.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TosRef {
    /// An existing TOS's id.
    Id(i64),
    /// The `key` of a TOS in this fixture.
    Key(String),
}

/// A dataset version (`datasets[].versions[]`).
#[derive(Debug, Deserialize)]
pub struct VersionSpec {
    pub version: String,
    #[serde(default)]
    pub buckets: Vec<String>,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub is_public: bool,
    /// Release line (default `main`).
    pub branch: Option<String>,
    /// Position on the branch.
    pub ordinal: Option<i64>,
}

/// A service table and its public roots (`datasets[].service_tables[]`).
#[derive(Debug, Deserialize)]
pub struct ServiceTableSpec {
    pub service: String,
    pub table: String,
    #[serde(default)]
    pub public_roots: Vec<i64>,
}

/// A terms-of-service document (`tos[]`), scoped and timed relative to now.
#[derive(Debug, Deserialize)]
pub struct TosSpec {
    pub key: String,
    pub name: String,
    pub text: String,
    pub dataset: Option<String>,
    pub version: Option<String>,
    pub service: Option<String>,
    pub effective_offset_s: Option<i64>,
    pub retired_offset_s: Option<i64>,
}

/// A token of a fixture user (`users[].tokens[]`).
#[derive(Debug, Deserialize)]
pub struct TokenSpec {
    pub key: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "double_option")]
    pub expires_in_s: Option<Option<i64>>,
    pub value: Option<String>,
    /// Token scope: only `view` survives.
    #[serde(default)]
    pub read_only: bool,
    /// Token scope: only these datasets.
    pub datasets: Option<Vec<String>>,
    /// A delegated key for this registered client (key or origin).
    pub delegated_client: Option<String>,
    /// The user's long-lived token (no `value`, no `expires_in_s`).
    #[serde(default)]
    pub long_lived: bool,
}

/// A user (`users[]`), keyed by `key` or else by e-mail.
#[derive(Debug, Deserialize)]
pub struct UserSpec {
    pub key: Option<String>,
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub admin: bool,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub pi: String,
    #[serde(default)]
    pub picture_url: String,
    #[serde(default)]
    pub affiliations: Vec<String>,
    pub parent: Option<String>,
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
    /// Remembered consents: registered client keys or origins.
    #[serde(default)]
    pub client_consents: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A member of a fixture group (`groups[].members[]`).
#[derive(Debug, Deserialize)]
pub struct MemberSpec {
    pub user: String,
    #[serde(default)]
    pub admin: bool,
    /// Membership ends this many seconds after seeding.
    pub expires_in_s: Option<i64>,
}

/// A group's permission on a dataset (`groups[].permissions[]`).
#[derive(Debug, Deserialize)]
pub struct GroupPermissionSpec {
    pub dataset: String,
    pub permission: String,
    /// Counts only for this service.
    pub service: Option<String>,
}

/// A group (`groups[]`).
#[derive(Debug, Deserialize)]
pub struct GroupSpec {
    pub name: String,
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    #[serde(default)]
    pub permissions: Vec<GroupPermissionSpec>,
}

/// A membership in an existing group (`memberships[]`).
#[derive(Debug, Deserialize)]
pub struct MembershipSpec {
    pub user: String,
    pub group: String,
    #[serde(default)]
    pub admin: bool,
    /// Membership ends this many seconds after seeding.
    pub expires_in_s: Option<i64>,
}

/// A user's grant on a dataset (`grants[]`).
#[derive(Debug, Deserialize)]
pub struct GrantSpec {
    pub user: String,
    pub dataset: String,
    pub permission: String,
    pub version: Option<String>,
    pub group: Option<String>,
    #[serde(default = "manual")]
    pub source: String,
    /// Grant ends this many seconds after seeding.
    pub expires_in_s: Option<i64>,
    /// Counts only for this service.
    pub service: Option<String>,
    /// Counts for `/gcs_token` only on these buckets of its dataset.
    #[serde(default)]
    pub buckets: Vec<String>,
}

fn manual() -> String {
    "manual".into()
}

/// A token of any user, fixture or existing (`tokens[]`).
#[derive(Debug, Deserialize)]
pub struct ExtraTokenSpec {
    pub user: String,
    pub key: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "double_option")]
    pub expires_in_s: Option<Option<i64>>,
    pub value: Option<String>,
    /// A delegated key for this registered client (key or origin).
    pub delegated_client: Option<String>,
}

/// A user's acceptance of a TOS (`tos_acceptances[]`).
#[derive(Debug, Deserialize)]
pub struct AcceptanceSpec {
    pub user: String,
    pub tos: TosRef,
}

/// A service-account token (`service_accounts[].tokens[]`).
#[derive(Debug, Deserialize)]
pub struct SaTokenSpec {
    pub key: String,
    #[serde(default)]
    pub description: String,
}

/// A service-account grant (`service_accounts[].grants[]`).
#[derive(Debug, Deserialize)]
pub struct SaGrantSpec {
    pub dataset: String,
    pub permission: String,
    pub version: Option<String>,
    /// Grant ends this many seconds after seeding.
    pub expires_in_s: Option<i64>,
    /// Counts only for this service.
    pub service: Option<String>,
}

/// A service account with its tokens and grants (`service_accounts[]`).
#[derive(Debug, Deserialize)]
pub struct ServiceAccountSpec {
    pub key: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub tokens: Vec<SaTokenSpec>,
    #[serde(default)]
    pub grants: Vec<SaGrantSpec>,
}

/// Parses a fixture, rejecting malformed JSON with a message naming the place.
///
/// # Errors
/// [`DomainError::Invalid`].
pub fn parse(text: &str) -> Result<Fixture, DomainError> {
    let fixture: Fixture =
        serde_json::from_str(text).map_err(|e| DomainError::Invalid(format!("fixture: {e}")))?;
    if let Some(key) = fixture.other.keys().find(|k| !k.starts_with('_')) {
        return Err(DomainError::Invalid(format!(
            "fixture: unknown top-level key {key:?} (sections: {SECTIONS}; \
             keys starting with '_' are comments)"
        )));
    }
    Ok(fixture)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_top_level_keys_are_refused_and_underscore_keys_are_comments() {
        assert!(parse(r#"{"_comment": "hi", "_x": {"any": 1}, "users": []}"#).is_ok());
        for text in [r#"{"user": []}"#, r#"{"datasets": [], "extra": 1}"#] {
            let err = parse(text).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("unknown top-level key"), "{text}: {err}");
        }
    }

    #[test]
    fn the_spec_example_parses_with_its_defaults() {
        let f = parse(
            r#"{"datasets": [{"name": "dsa-x", "tos": 3}],
                "users": [{"email": "a@x.org", "tokens": [{"key": "t", "expires_in_s": null}]}],
                "tokens": [{"user": "a@x.org", "key": "u"}]}"#,
        )
        .unwrap();
        assert_eq!(f.datasets[0].access_mode, "closed");
        assert!(matches!(f.datasets[0].tos, Some(TosRef::Id(3))));
        assert!(f.users[0].active);
        assert_eq!(f.users[0].tokens[0].expires_in_s, Some(None));
        assert_eq!(f.tokens.as_ref().unwrap()[0].expires_in_s, None);
        for bad in ["", "[]", "null", r#"{"users": {}}"#, r#"{"users": [{}]}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
