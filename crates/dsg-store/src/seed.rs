//! `dsg seed FILE`: the declarative fixture format (shared/spec/fixture-format.md).
//!
//! One JSON document, applied in **one transaction**: either everything it
//! names is created, or nothing is. Names that already exist are errors.
//! The document's types and its parsing are [`dsg_core::seed`]; this
//! module writes it. The result names every created id and the plaintext of
//! every created token, once.

use std::collections::{BTreeMap, HashMap};

use dsg_core::seed::TosRef;
pub use dsg_core::seed::{Fixture, parse};
use dsg_core::token::ApiToken;
use dsg_core::{DomainError, Timestamp};
use serde_json::{Value, json};

use crate::datasets::NewTos;
use crate::events::CacheEvent;
use crate::grants::NewGrant;
use crate::long_lived::Derive;
use crate::tokens::NewToken;
use crate::users::NewUser;
use crate::write::Actor;
use crate::{Result, Store, WriteTx, now_micros};

/// Default lifetime of fixture tokens: 7 days.
const DEFAULT_TOKEN_SECS: i64 = 7 * 24 * 3600;

/// State threaded through one seed run.
struct Run<'k> {
    now: i64,
    keys: Option<Derive<'k>>,
    users: HashMap<String, i64>,
    tos: HashMap<String, i64>,
    clients: HashMap<String, i64>,
    out_users: BTreeMap<String, Value>,
    out_tokens: BTreeMap<String, String>,
}

impl Run<'_> {
    fn keys(&self, what: &str) -> Result<Derive<'_>> {
        self.keys.ok_or_else(|| {
            DomainError::Invalid(format!(
                "{what} needs the server's token key: seed with `dsg seed` (or the server's keys)"
            ))
            .into()
        })
    }

    /// A registered client by fixture key, else by the origin of an existing one.
    async fn client(&self, tx: &mut WriteTx, reference: &str) -> Result<i64> {
        if let Some(id) = self.clients.get(reference) {
            return Ok(*id);
        }
        tx.client_id_by_origin(reference).await?.ok_or_else(|| {
            DomainError::Invalid(format!(
                "client {reference:?} is neither a registered_clients key of this fixture nor the origin of a registered client"
            ))
            .into()
        })
    }

    /// Writes one fixture token of `uid`: an ordinary one, a delegated key,
    /// or the user's long-lived token.
    async fn token(&self, tx: &mut WriteTx, uid: i64, t: TokenInput<'_>) -> Result<ApiToken> {
        if t.long_lived {
            if t.value.is_some() || t.expires_in_s.is_some() {
                return Err(DomainError::Invalid(format!(
                    "token {:?}: a long_lived token takes neither value nor expires_in_s",
                    t.key
                ))
                .into());
            }
            let keys = self.keys("a long_lived token")?;
            return match tx.issue_long_lived(uid, keys).await? {
                crate::long_lived::Issue::Issued(token) => Ok(token),
                crate::long_lived::Issue::Current(_) => Err(DomainError::Invalid(format!(
                    "token {:?}: the user already has a long-lived token",
                    t.key
                ))
                .into()),
            };
        }
        if let Some(reference) = t.delegated_client {
            let client_id = self.client(tx, reference).await?;
            let expires_at = self.expiry(t.expires_in_s.or(Some(Some(DELEGATED_KEY_SECS))));
            let (literal, salt) = match token_literal(t.value)? {
                Some(v) => (v, None),
                None => {
                    let salt = ApiToken::random_bytes()?.to_vec();
                    (self.keys("a delegated key")?.delegated(&salt), Some(salt))
                }
            };
            let (_, token) = tx
                .create_user_token(
                    uid,
                    NewToken {
                        description: crate::clients::DELEGATED_DESCRIPTION.into(),
                        expires_at,
                        literal: Some(literal),
                        delegated_client: Some(client_id),
                        salt,
                        scope: dsg_core::permissions::TokenScope {
                            delegated: true,
                            ..Default::default()
                        },
                        ..NewToken::default()
                    },
                )
                .await?;
            return Ok(token);
        }
        let (_, token) = tx
            .create_user_token(
                uid,
                NewToken {
                    description: t.description.to_owned(),
                    expires_at: self.expiry(t.expires_in_s),
                    literal: token_literal(t.value)?,
                    scope: dsg_core::permissions::TokenScope {
                        read_only: t.read_only,
                        datasets: t.datasets.map(|d| d.iter().cloned().collect()),
                        delegated: false,
                    },
                    ..NewToken::default()
                },
            )
            .await?;
        Ok(token)
    }

    fn after(&self, secs: Option<i64>) -> Option<Timestamp> {
        secs.map(|s| Timestamp(self.now).plus_secs(s))
    }

    fn expiry(&self, spec: Option<Option<i64>>) -> Option<Timestamp> {
        match spec {
            None => Some(Timestamp(self.now).plus_secs(DEFAULT_TOKEN_SECS)),
            Some(None) => None,
            Some(Some(secs)) => Some(Timestamp(self.now).plus_secs(secs)),
        }
    }

    async fn user(&self, tx: &mut WriteTx, reference: &str) -> Result<i64> {
        if let Some(id) = self.users.get(reference) {
            return Ok(*id);
        }
        tx.user_id_by_email(reference).await?.ok_or_else(|| {
            DomainError::Invalid(format!(
                "user {reference:?} is neither a user key of this fixture nor the e-mail of an existing user"
            ))
            .into()
        })
    }

    fn tos(&self, reference: &TosRef) -> Result<i64> {
        match reference {
            TosRef::Id(id) => Ok(*id),
            TosRef::Key(k) => self.tos.get(k).copied().ok_or_else(|| {
                DomainError::Invalid(format!("tos {k:?} is not a TOS key of this fixture")).into()
            }),
        }
    }
}

/// Default lifetime of a fixture's delegated key: 7 days.
const DELEGATED_KEY_SECS: i64 = 7 * 24 * 3600;

/// One fixture token, from `users[].tokens[]` or the top-level `tokens[]`.
struct TokenInput<'a> {
    key: &'a str,
    description: &'a str,
    expires_in_s: Option<Option<i64>>,
    value: Option<&'a str>,
    read_only: bool,
    datasets: Option<&'a Vec<String>>,
    delegated_client: Option<&'a str>,
    long_lived: bool,
}

fn token_literal(value: Option<&str>) -> Result<Option<ApiToken>> {
    Ok(match value {
        Some(v) => Some(ApiToken::from_literal(v)?),
        None => None,
    })
}

impl Store {
    /// Applies a fixture in one transaction and returns the result document.
    ///
    /// # Errors
    /// Any invalid reference or existing name; nothing is written then.
    pub async fn seed(&self, fixture: Fixture) -> Result<Value> {
        self.seed_with(fixture, None).await
    }

    /// [`Store::seed`] with the server's token deriver, which a fixture's long-lived
    /// tokens and delegated keys need.
    ///
    /// # Errors
    /// As [`Store::seed`].
    pub async fn seed_with(&self, fixture: Fixture, keys: Option<Derive<'_>>) -> Result<Value> {
        let mut tx = self.begin(Actor::cli("seed")).await?;
        let result = apply(&mut tx, fixture, keys).await?;
        tx.invalidate(CacheEvent::All);
        tx.audit(
            "seed_applied",
            "Command",
            "seed",
            None,
            Some(summary(&result)),
        )
        .await?;
        tx.commit().await?;
        Ok(result)
    }
}

fn summary(result: &Value) -> Value {
    let count = |k: &str| {
        result
            .get(k)
            .and_then(Value::as_object)
            .map_or(0, |o| o.len())
    };
    json!({
        "users": count("users"), "datasets": count("datasets"), "groups": count("groups"),
        "tos": count("tos"), "services": count("services"), "service_accounts": count("service_accounts"),
    })
}

async fn apply(tx: &mut WriteTx, f: Fixture, keys: Option<Derive<'_>>) -> Result<Value> {
    let mut run = Run {
        now: now_micros(),
        keys,
        users: HashMap::new(),
        tos: HashMap::new(),
        clients: HashMap::new(),
        out_users: BTreeMap::new(),
        out_tokens: BTreeMap::new(),
    };
    let names = f.permissions.unwrap_or_else(|| {
        ["view", "edit", "manage", "admin"]
            .map(String::from)
            .to_vec()
    });
    for p in &names {
        tx.ensure_permission(p).await?;
    }

    let mut out_services = BTreeMap::new();
    for s in &f.services {
        let id = tx
            .create_service(&s.name, &s.display_name, &s.base_url, s.mode()?)
            .await?;
        out_services.insert(s.name.clone(), json!({"id": id}));
    }

    // Datasets with their buckets, versions, service tables and public roots.
    let mut out_datasets = BTreeMap::new();
    let mut dataset_tos: Vec<(i64, TosRef)> = Vec::new();
    for d in &f.datasets {
        let id = tx
            .create_dataset(&d.name, &d.description, &d.access_mode)
            .await?;
        let mut buckets = BTreeMap::new();
        for b in &d.buckets {
            buckets.insert(b.clone(), tx.add_bucket(id, b).await?);
        }
        let mut versions = BTreeMap::new();
        for v in &d.versions {
            let mut ids = Vec::new();
            for b in &v.buckets {
                let bid = match buckets.get(b) {
                    Some(bid) => *bid,
                    None => {
                        let bid = tx.add_bucket(id, b).await?;
                        buckets.insert(b.clone(), bid);
                        bid
                    }
                };
                ids.push(bid);
            }
            versions.insert(
                v.version.clone(),
                tx.add_version(
                    id,
                    &v.version,
                    &v.prefix,
                    v.is_public,
                    &ids,
                    &crate::datasets::VersionPlace {
                        branch: v.branch.clone().unwrap_or_else(|| "main".into()),
                        ordinal: v.ordinal,
                    },
                )
                .await?,
            );
        }
        for st in &d.service_tables {
            let st_id = tx.add_service_table(id, &st.service, &st.table).await?;
            for root in &st.public_roots {
                tx.add_public_root(st_id, *root).await?;
            }
        }
        if let Some(t) = &d.tos {
            dataset_tos.push((id, t.clone()));
        }
        out_datasets.insert(
            d.name.clone(),
            json!({"id": id, "versions": versions, "buckets": buckets}),
        );
    }

    for t in &f.translations {
        let service_id = tx.service_id(&t.service).await?;
        let dataset_id = tx.dataset_id(&t.dataset).await?;
        let version_id = match (&t.client_version, &t.version) {
            (Some(cv), Some(v)) if !cv.is_empty() => Some(tx.version_id(dataset_id, v).await?),
            (None, None) => None,
            _ => {
                return Err(DomainError::Invalid(format!(
                    "translation {:?} of service {:?}: client_version and version go together \
                     (a non-empty client_version with the dataset's version, or neither)",
                    t.client_name, t.service
                ))
                .into());
            }
        };
        tx.create_translation(&crate::translations::NewTranslation {
            service_id,
            client_name: &t.client_name,
            client_version: t.client_version.as_deref(),
            dataset_id,
            version_id,
        })
        .await?;
    }

    let mut out_clients = BTreeMap::new();
    for c in &f.registered_clients {
        let origin = crate::clients::exact_origin(&c.origin).ok_or_else(|| {
            DomainError::Invalid(format!(
                "registered client {:?}: origin {:?} must be an exact origin such as https://app.example.org",
                c.key, c.origin
            ))
        })?;
        let new = crate::clients::NewClient {
            origin,
            name: c.name.clone(),
            owner: c.owner.clone(),
            enabled: c.enabled,
            allowed_services: c.allowed_services.clone(),
        };
        crate::clients::check_client(&new)?;
        let added = tx.add_client(&new).await?;
        if run.clients.insert(c.key.clone(), added.id).is_some() {
            return Err(DomainError::Invalid(format!(
                "registered client key {:?} is used twice",
                c.key
            ))
            .into());
        }
        out_clients.insert(
            c.key.clone(),
            json!({"id": added.id, "origin": added.origin}),
        );
    }

    let mut out_tos = BTreeMap::new();
    for t in &f.tos {
        if run.tos.contains_key(&t.key) {
            return Err(DomainError::Invalid(format!("tos key {:?} is used twice", t.key)).into());
        }
        let dataset_id = match &t.dataset {
            Some(name) => Some(tx.dataset_id(name).await?),
            None => None,
        };
        let version_id = match (&t.version, dataset_id) {
            (Some(v), Some(d)) => Some(tx.version_id(d, v).await?),
            (Some(v), None) => {
                return Err(DomainError::Invalid(format!(
                    "tos {:?} names version {v:?} but no dataset",
                    t.key
                ))
                .into());
            }
            (None, _) => None,
        };
        let service_id = match &t.service {
            Some(s) => Some(tx.service_id(s).await?),
            None => None,
        };
        let now = Timestamp(run.now);
        let (id, invite) = tx
            .create_tos(&NewTos {
                name: t.name.clone(),
                text: t.text.clone(),
                dataset_id,
                version_id,
                service_id,
                effective_at: now.plus_secs(t.effective_offset_s.unwrap_or(-60)),
                retired_at: t.retired_offset_s.map(|s| now.plus_secs(s)),
            })
            .await?;
        run.tos.insert(t.key.clone(), id);
        out_tos.insert(t.key.clone(), json!({"id": id, "invite_token": invite}));
    }
    for (dataset_id, reference) in dataset_tos {
        let tos_id = run.tos(&reference)?;
        tx.set_dataset_tos(dataset_id, Some(tos_id)).await?;
    }

    // Users, then parents (a parent may be listed after its child).
    let mut parents = Vec::new();
    for u in &f.users {
        let id = tx
            .create_user(&NewUser {
                email: u.email.clone(),
                name: u.name.clone(),
                display_name: u.display_name.clone(),
                admin: u.admin,
                active: u.active,
                read_only: u.read_only,
                pi: u.pi.clone(),
                picture_url: u.picture_url.clone(),
                parent_id: None,
                ..NewUser::default()
            })
            .await?;
        let key = u.key.clone().unwrap_or_else(|| u.email.clone());
        if run.users.insert(key.clone(), id).is_some() {
            return Err(DomainError::Invalid(format!("user key {key:?} is used twice")).into());
        }
        run.users.entry(u.email.clone()).or_insert(id);
        for a in &u.affiliations {
            tx.add_affiliation(id, a).await?;
        }
        let mut tokens = BTreeMap::new();
        if u.tokens.iter().filter(|t| t.long_lived).count() > 1 {
            return Err(DomainError::Invalid(format!(
                "user {key:?} has more than one long_lived token"
            ))
            .into());
        }
        for t in &u.tokens {
            let token = run
                .token(
                    tx,
                    id,
                    TokenInput {
                        key: &t.key,
                        description: &t.description,
                        expires_in_s: t.expires_in_s,
                        value: t.value.as_deref(),
                        read_only: t.read_only,
                        datasets: t.datasets.as_ref(),
                        delegated_client: t.delegated_client.as_deref(),
                        long_lived: t.long_lived,
                    },
                )
                .await?;
            tokens.insert(t.key.clone(), token.expose().to_owned());
        }
        for c in &u.client_consents {
            let client_id = run.client(tx, c).await?;
            tx.remember_consent(id, client_id).await?;
        }
        if let Some(p) = &u.parent {
            parents.push((id, p.clone()));
        }
        run.out_users
            .insert(key, json!({"id": id, "email": u.email, "tokens": tokens}));
    }
    for (child, parent) in parents {
        let parent_id = run.user(tx, &parent).await?;
        if parent_id == child {
            return Err(DomainError::Invalid("a user cannot be its own parent".into()).into());
        }
        tx.set_parent(child, parent_id).await?;
    }

    let mut out_groups = BTreeMap::new();
    for g in &f.groups {
        let id = tx.create_group(&g.name).await?;
        for m in &g.members {
            let uid = run.user(tx, &m.user).await?;
            tx.add_member(uid, id, m.admin, run.after(m.expires_in_s))
                .await?;
        }
        for p in &g.permissions {
            let did = tx.dataset_id(&p.dataset).await?;
            let service_id = match &p.service {
                Some(s) => Some(tx.service_id(s).await?),
                None => None,
            };
            tx.add_group_permission(id, did, &p.permission, service_id)
                .await?;
        }
        out_groups.insert(g.name.clone(), json!({"id": id}));
    }
    for m in &f.memberships {
        let uid = run.user(tx, &m.user).await?;
        let gid = tx.group_id(&m.group).await?;
        tx.add_member(uid, gid, m.admin, run.after(m.expires_in_s))
            .await?;
    }
    for g in &f.grants {
        let user_id = run.user(tx, &g.user).await?;
        let dataset_id = tx.dataset_id(&g.dataset).await?;
        let version_id = match &g.version {
            Some(v) => Some(tx.version_id(dataset_id, v).await?),
            None => None,
        };
        let group_id = match &g.group {
            Some(name) => Some(tx.group_id(name).await?),
            None => None,
        };
        let service_id = match &g.service {
            Some(s) => Some(tx.service_id(s).await?),
            None => None,
        };
        let mut bucket_ids = Vec::new();
        for b in &g.buckets {
            bucket_ids.push(tx.bucket_of(dataset_id, b).await?.ok_or_else(|| {
                DomainError::Invalid(format!(
                    "grant of {:?} on {:?}: {b:?} is not a bucket of that dataset",
                    g.user, g.dataset
                ))
            })?);
        }
        tx.create_grant(&NewGrant {
            service_id,
            bucket_ids: &bucket_ids,
            user_id,
            dataset_id,
            version_id,
            permission: &g.permission,
            group_id,
            granted_by: None,
            source: &g.source,
            expires_at: run.after(g.expires_in_s),
        })
        .await?;
    }
    let extra_tokens = f.tokens.is_some();
    for t in f.tokens.iter().flatten() {
        let uid = run.user(tx, &t.user).await?;
        let token = run
            .token(
                tx,
                uid,
                TokenInput {
                    key: &t.key,
                    description: &t.description,
                    expires_in_s: t.expires_in_s,
                    value: t.value.as_deref(),
                    read_only: false,
                    datasets: None,
                    delegated_client: t.delegated_client.as_deref(),
                    long_lived: false,
                },
            )
            .await?;
        if run
            .out_tokens
            .insert(t.key.clone(), token.expose().to_owned())
            .is_some()
        {
            return Err(
                DomainError::Invalid(format!("token key {:?} is used twice", t.key)).into(),
            );
        }
    }
    for a in &f.tos_acceptances {
        let uid = run.user(tx, &a.user).await?;
        let tos_id = run.tos(&a.tos)?;
        tx.accept_tos(uid, tos_id, None).await?;
    }

    let mut out_sas = BTreeMap::new();
    for sa in &f.service_accounts {
        let id = tx
            .create_service_account(&sa.name, &sa.description, sa.active)
            .await?;
        let mut tokens = BTreeMap::new();
        for t in &sa.tokens {
            let (_, token) = tx.create_service_account_token(id, &t.description).await?;
            tokens.insert(t.key.clone(), token.expose().to_owned());
        }
        for g in &sa.grants {
            let dataset_id = tx.dataset_id(&g.dataset).await?;
            let version_id = match &g.version {
                Some(v) => Some(tx.version_id(dataset_id, v).await?),
                None => None,
            };
            let service_id = match &g.service {
                Some(s) => Some(tx.service_id(s).await?),
                None => None,
            };
            tx.create_service_account_grant(
                id,
                dataset_id,
                version_id,
                &g.permission,
                run.after(g.expires_in_s),
                service_id,
            )
            .await?;
        }
        let key = sa.key.clone().unwrap_or_else(|| sa.name.clone());
        out_sas.insert(key, json!({"id": id, "name": sa.name, "tokens": tokens}));
    }

    let mut out_oidc = BTreeMap::new();
    for c in &f.oidc_clients {
        let bad = |m: String| -> crate::StoreError {
            DomainError::Invalid(format!("oidc client {:?}: {m}", c.key)).into()
        };
        if c.redirect_uris.is_empty() {
            return Err(bad("at least one redirect URI is required".into()));
        }
        if let Some(u) = c
            .redirect_uris
            .iter()
            .chain(&c.post_logout_redirect_uris)
            .find(|u| !dsg_core::oidc::is_redirect_uri(u))
        {
            return Err(bad(format!(
                "{u:?} is not an absolute http(s) URL without fragment"
            )));
        }
        let scopes = dsg_core::oidc::scopes(&c.scopes).map_err(bad)?;
        let client_id = ApiToken::generate()?.expose()[..24].to_owned();
        let secret = if c.public {
            None
        } else {
            Some(ApiToken::generate()?)
        };
        tx.add_oidc_client(&crate::oidc::NewOidcClient {
            client_id: client_id.clone(),
            name: c.name.clone(),
            secret_hash: secret.as_ref().map(ApiToken::hash),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            scopes,
            datasets: c.datasets.clone(),
        })
        .await?;
        let mut out = json!({"client_id": client_id});
        if let Some(s) = secret {
            out["client_secret"] = json!(s.expose());
        }
        if out_oidc.insert(c.key.clone(), out).is_some() {
            return Err(bad("the key is used twice".into()));
        }
    }

    let mut result = json!({
        "users": run.out_users,
        "service_accounts": out_sas,
        "datasets": out_datasets,
        "groups": out_groups,
        "tos": out_tos,
        "services": out_services,
    });
    if !out_clients.is_empty()
        && let Some(obj) = result.as_object_mut()
    {
        obj.insert("registered_clients".into(), json!(out_clients));
    }
    if !out_oidc.is_empty()
        && let Some(obj) = result.as_object_mut()
    {
        obj.insert("oidc_clients".into(), json!(out_oidc));
    }
    if extra_tokens && let Some(obj) = result.as_object_mut() {
        obj.insert("tokens".into(), json!(run.out_tokens));
    }
    Ok(result)
}
