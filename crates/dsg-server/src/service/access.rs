//! Access decisions: may a principal reach a dataset (or a version) at a
//! level, for a service, and every rule that was considered — the decision
//! of check-access and explain-access and of the web's explain view. About
//! oneself anyone may ask (under one's own token's scope); about another
//! person or a service account, the dataset's managers and global admins.

use dsg_core::permissions::explain::{Decision, Question, Rule, explain};
use dsg_core::permissions::{EvalContext, TokenScope};
use dsg_store::tokens::PrincipalRef;

use super::ServiceError;
use super::authority::Caller;
use crate::state::AppState;

/// A question about a known dataset.
#[derive(Debug, Clone)]
pub struct Asked {
    /// Dataset id.
    pub dataset_id: i64,
    /// Dataset name.
    pub dataset: String,
    /// Version name.
    pub version: Option<String>,
    /// Level asked about.
    pub permission: String,
    /// Service slug.
    pub service: Option<String>,
    /// The service's own (dataset, version) names, when its translation
    /// named the dataset asked about.
    pub translated_from: Option<(String, Option<String>)>,
}

/// Resolves a question: through the named service's translations when it
/// has one for the name, else the dataset by name; `view` when no level is
/// named.
///
/// # Errors
/// "Dataset not found".
pub async fn ask(
    state: &AppState,
    dataset: &str,
    version: Option<String>,
    permission: Option<String>,
    service: Option<String>,
) -> Result<Asked, ServiceError> {
    let permission = permission.unwrap_or_else(|| "view".to_owned());
    if let Some(s) = service.as_deref() {
        let catalog = state.cache.current_catalog().await?;
        if catalog.translations_of(s, dataset).is_some() {
            let svc = dsg_core::permissions::decide::service(&catalog, Some(s));
            let resolved = dsg_core::permissions::decide::resolve(
                &catalog,
                svc,
                dataset,
                version.as_deref(),
                None,
            )
            .ok_or(ServiceError::NotFound("Dataset not found"))?;
            let our_version = match resolved.target {
                dsg_core::permissions::decide::Target::Version(v) => Some(v.name.clone()),
                _ => version.clone(),
            };
            return Ok(Asked {
                dataset_id: resolved.dataset.id,
                dataset: resolved.dataset.name.clone(),
                version: our_version,
                permission,
                service,
                translated_from: Some((dataset.to_owned(), version)),
            });
        }
    }
    let row = state
        .store
        .dataset_by_name(dataset)
        .await?
        .ok_or(ServiceError::NotFound("Dataset not found"))?;
    Ok(Asked {
        dataset_id: row.id,
        dataset: row.name,
        version,
        permission,
        service,
        translated_from: None,
    })
}

/// Whom a question is about, as named.
#[derive(Debug, Clone, Copy)]
pub enum Named<'a> {
    /// The caller, under its token's scope.
    Caller,
    /// A person by e-mail (naming oneself counts as asking about oneself).
    User(&'a str),
    /// A service account by name.
    ServiceAccount(&'a str),
}

/// A principal the caller may ask about, under the scope that applies.
#[derive(Debug, Clone)]
pub struct Subject {
    principal: PrincipalRef,
    scope: TokenScope,
}

impl Subject {
    /// Who.
    pub fn principal(&self) -> PrincipalRef {
        self.principal
    }
}

/// Whom the caller may ask about on `asked`'s dataset: itself, anyone;
/// another person or a service account, the dataset's managers. A person
/// or service account named is asked about without a token's scope.
///
/// # Errors
/// Forbidden; "User not found"; "Service account not found".
pub async fn subject(
    state: &AppState,
    caller: &Caller,
    asked: &Asked,
    named: Named<'_>,
) -> Result<Subject, ServiceError> {
    let own = || Subject {
        principal: caller.principal(),
        scope: caller.authenticated().token.scope.clone(),
    };
    match named {
        Named::Caller => Ok(own()),
        Named::User(email)
            if caller.user_id().is_some() && email.eq_ignore_ascii_case(caller.email()) =>
        {
            Ok(Subject {
                principal: caller.principal(),
                scope: TokenScope::default(),
            })
        }
        Named::User(email) => {
            authorize_others(caller, asked)?;
            let id = state
                .store
                .user_id_by_email(email)
                .await?
                .ok_or(ServiceError::NotFound("User not found"))?;
            Ok(Subject {
                principal: PrincipalRef::User(id),
                scope: TokenScope::default(),
            })
        }
        Named::ServiceAccount(name) => {
            authorize_others(caller, asked)?;
            let id = state
                .store
                .service_account_id(name)
                .await?
                .ok_or(ServiceError::NotFound("Service account not found"))?;
            Ok(Subject {
                principal: PrincipalRef::ServiceAccount(id),
                scope: TokenScope::default(),
            })
        }
    }
}

fn authorize_others(caller: &Caller, asked: &Asked) -> Result<(), ServiceError> {
    if caller.can_manage(&asked.dataset) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// The decision with every rule considered, from the current data.
///
/// # Errors
/// "Principal not found" (deleted meanwhile); database failures.
pub async fn decide(
    state: &AppState,
    subject: &Subject,
    asked: &Asked,
) -> Result<Decision, ServiceError> {
    state.cache.sync().await?;
    let catalog = state.cache.current_catalog().await?;
    let loaded = state
        .store
        .load_subject(subject.principal)
        .await?
        .ok_or(ServiceError::NotFound("Principal not found"))?;
    let mut decision = explain(
        &catalog,
        &loaded,
        &Question {
            dataset_id: asked.dataset_id,
            version: asked.version.as_deref(),
            permission: &asked.permission,
        },
        &EvalContext {
            now: state.clock.now(),
            service: asked.service.as_deref(),
            scope: &subject.scope,
        },
    );
    if let (Some(s), Some((name, version))) = (&asked.service, &asked.translated_from) {
        decision
            .rules
            .insert(0, Rule::translation(s, name, version.as_deref()));
    }
    Ok(decision)
}
