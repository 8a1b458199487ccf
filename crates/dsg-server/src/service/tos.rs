//! Terms of service: services (the scope of service-wide documents),
//! documents scoped to a dataset, a version or a service with effective and
//! retired dates, and their acceptance. One acceptance rule serves every
//! front-end (the native API's accept endpoint, the web pages, ngauth's
//! activation): only documents in force; documents of invite-only datasets
//! only for people with access to them (a grant or a group permission);
//! accepting a public dataset's own terms grants `view` (self-service).

use dsg_core::Timestamp;
use dsg_store::datasets::NewTos;
use dsg_store::tos::TosRow;

use super::authority::Caller;
use super::{Invalid, ServiceError, commit};
use crate::state::AppState;

/// A service to create (`POST /api/v1/services`).
#[derive(Debug, Clone)]
pub struct NewService {
    /// Slug: 1–100 letters, digits, `-` or `_`.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Where it runs.
    pub base_url: String,
    /// How it evaluates versions.
    pub mode: dsg_core::permissions::VersionEvalMode,
}

/// May the caller create services? Global admins.
///
/// # Errors
/// Forbidden.
pub fn authorize_create_service(caller: &Caller) -> Result<(), ServiceError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// Creates a service, the scope of service-wide documents. Global admins.
///
/// # Errors
/// Forbidden; a name that is not a slug; a name that is taken.
pub async fn create_service(
    state: &AppState,
    caller: &Caller,
    input: NewService,
) -> Result<i64, ServiceError> {
    authorize_create_service(caller)?;
    dsg_store::service_accounts::validate_slug("service name", &input.name)
        .map_err(dsg_store::StoreError::from)?;
    let mut tx = state.store.begin(caller.actor()).await?;
    let id = tx
        .create_service(
            &input.name,
            &input.display_name,
            &input.base_url,
            input.mode,
        )
        .await?;
    commit(state, tx).await?;
    Ok(id)
}

/// A document to create (`POST /api/v1/tos`).
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Title.
    pub name: String,
    /// Markdown text.
    pub text: String,
    /// The dataset whose terms these are.
    pub dataset: Option<String>,
    /// A version of that dataset.
    pub version: Option<String>,
    /// The service whose terms these are.
    pub service: Option<String>,
    /// In force from (default: now).
    pub effective_at: Option<Timestamp>,
    /// Retired from.
    pub retired_at: Option<Timestamp>,
}

/// Creates a document. Dataset admins for a dataset's documents, global
/// admins for the others. A dataset document without version or service
/// becomes the dataset's gate. Returns the document as stored.
///
/// # Errors
/// Forbidden; `retired_at` not after `effective_at`; a version without a
/// dataset; an unknown dataset, version or service.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: NewDocument,
) -> Result<TosRow, ServiceError> {
    if !caller.may_edit_tos(input.dataset.as_deref()) {
        return Err(ServiceError::Forbidden(None));
    }
    let effective_at = input.effective_at.unwrap_or_else(|| state.clock.now());
    if input.retired_at.is_some_and(|r| r <= effective_at) {
        return Err(not_after_effective());
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    let dataset_id = match &input.dataset {
        Some(d) => Some(tx.dataset_id(d).await?),
        None => None,
    };
    let version_id = match (&input.version, dataset_id) {
        (Some(v), Some(d)) => Some(tx.version_id(d, v).await?),
        (Some(_), None) => {
            return Err(Invalid::Rule {
                field: Some("version"),
                message: "a version needs a dataset".into(),
            }
            .into());
        }
        (None, _) => None,
    };
    let service_id = match &input.service {
        Some(s) => Some(tx.service_id(s).await?),
        None => None,
    };
    let (id, _) = tx
        .create_tos(&NewTos {
            name: input.name,
            text: input.text,
            dataset_id,
            version_id,
            service_id,
            effective_at,
            retired_at: input.retired_at,
        })
        .await?;
    if let (Some(d), None, None) = (dataset_id, version_id, service_id) {
        tx.set_dataset_tos(d, Some(id)).await?;
    }
    commit(state, tx).await?;
    state
        .store
        .tos_document(id)
        .await?
        .ok_or_else(|| super::vanished("TOS document"))
}

fn not_after_effective() -> ServiceError {
    Invalid::Rule {
        field: Some("retired_at"),
        message: "retired_at must be after effective_at".into(),
    }
    .into()
}

/// A document by its id as written in a path ("TOS not found" for anything
/// that is not the id of a document).
///
/// # Errors
/// Not found.
pub async fn document(state: &AppState, id: &str) -> Result<TosRow, ServiceError> {
    let id: i64 = id.parse().map_err(|_| not_found())?;
    document_by_id(state, id).await
}

/// A document by id.
///
/// # Errors
/// Not found.
pub async fn document_by_id(state: &AppState, id: i64) -> Result<TosRow, ServiceError> {
    state.store.tos_document(id).await?.ok_or_else(not_found)
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("TOS not found")
}

/// A document by its invitation token, if one has it.
///
/// # Errors
/// Database failures.
pub async fn by_invite(state: &AppState, token: &str) -> Result<Option<TosRow>, ServiceError> {
    Ok(state.store.tos_by_invite(token).await?)
}

/// A document as a caller may see it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The document.
    pub doc: TosRow,
    /// The caller may see (and hand out) its invitation link.
    pub shows_invite: bool,
    /// Whether the caller accepted it; `None` for service accounts.
    pub accepted: Option<bool>,
}

/// A document for `GET /api/v1/tos/{id}`: the invitation link for managers
/// of its dataset (global admins for the others), and whether a person has
/// accepted it.
///
/// # Errors
/// Not found.
pub async fn show(state: &AppState, caller: &Caller, id: &str) -> Result<Shown, ServiceError> {
    let doc = document(state, id).await?;
    let accepted = match caller.user_id() {
        Some(uid) => Some(state.store.has_accepted(uid, doc.id).await?),
        None => None,
    };
    Ok(Shown {
        shows_invite: caller.may_share_tos(doc.dataset.as_deref()),
        accepted,
        doc,
    })
}

/// May the caller retire this document? As for creating it.
///
/// # Errors
/// Forbidden.
pub fn authorize_retire(caller: &Caller, doc: &TosRow) -> Result<(), ServiceError> {
    if caller.may_edit_tos(doc.dataset.as_deref()) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// Retires a document at `at` (default: now), which must lie after it took
/// effect. Returns the instant.
///
/// # Errors
/// Forbidden; `retired_at` not after `effective_at`.
pub async fn retire(
    state: &AppState,
    caller: &Caller,
    doc: &TosRow,
    at: Option<Timestamp>,
) -> Result<Timestamp, ServiceError> {
    authorize_retire(caller, doc)?;
    let at = at.unwrap_or_else(|| state.clock.now());
    if at <= doc.effective_at {
        return Err(not_after_effective());
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    tx.retire_tos(doc.id, Some(at)).await?;
    commit(state, tx).await?;
    Ok(at)
}

/// What [`accept`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Newly accepted.
    Accepted,
    /// Accepted before.
    Already,
    /// The document is not in force now; nothing recorded.
    NotInForce,
    /// The dataset (named) is invite-only and the person has no access to
    /// it; nothing recorded.
    Restricted(String),
}

/// Does the caller lack access to the invite-only dataset of this document
/// (no permission in the document, no grant or group permission for any
/// service)? Documents of public datasets and documents without a dataset
/// are open to everyone.
async fn restricted(state: &AppState, caller: &Caller, doc: &TosRow) -> Result<bool, ServiceError> {
    let (Some(dataset), Some(dataset_id)) = (doc.dataset.as_deref(), doc.dataset_id) else {
        return Ok(false);
    };
    if is_public(doc) || caller.sees(dataset) {
        return Ok(false);
    }
    let Some(user_id) = caller.user_id() else {
        return Ok(true);
    };
    Ok(!state.store.holds_anything_on(user_id, dataset_id).await?)
}

fn is_public(doc: &TosRow) -> bool {
    doc.access_mode.as_deref() == Some("public")
}

/// A person accepts a document, from `ip` when known (the one rule of every
/// front-end; see the module). Audited; the person's cached permissions
/// change at once.
///
/// # Errors
/// Forbidden for a service account; database failures.
pub async fn accept(
    state: &AppState,
    caller: &Caller,
    doc: &TosRow,
    ip: Option<&str>,
) -> Result<Recorded, ServiceError> {
    let user_id = caller.human()?;
    if !doc.in_force(state.clock.now()) {
        return Ok(Recorded::NotInForce);
    }
    if restricted(state, caller, doc).await? {
        return Ok(Recorded::Restricted(
            doc.dataset.clone().unwrap_or_default(),
        ));
    }
    let already = state.store.has_accepted(user_id, doc.id).await?;
    let mut tx = state.store.begin(caller.actor()).await?;
    // Public datasets are self-service: accepting their gate grants `view`.
    if let (true, Some(dataset_id), None, None) =
        (is_public(doc), doc.dataset_id, &doc.version, &doc.service)
        && !state.store.has_grant_on(user_id, dataset_id).await?
    {
        super::datasets::grant_self_service_view(&mut tx, user_id, dataset_id).await?;
    }
    if !already {
        tx.accept_tos(user_id, doc.id, ip).await?;
    }
    commit(state, tx).await?;
    Ok(if already {
        Recorded::Already
    } else {
        Recorded::Accepted
    })
}

/// Where a person stands with a document, for the pages that show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The dataset is invite-only and the person has no access to it
    /// (accepting would be refused).
    pub restricted: bool,
    /// The document is in force now.
    pub in_force: bool,
    /// The person accepted it.
    pub accepted: bool,
}

/// Where the caller (a person) stands with a document.
///
/// # Errors
/// Forbidden for a service account; database failures.
pub async fn standing(
    state: &AppState,
    caller: &Caller,
    doc: &TosRow,
) -> Result<Standing, ServiceError> {
    let user_id = caller.human()?;
    Ok(Standing {
        restricted: restricted(state, caller, doc).await?,
        in_force: doc.in_force(state.clock.now()),
        accepted: state.store.has_accepted(user_id, doc.id).await?,
    })
}

/// Documents the caller (a person) still has to accept before using
/// `service` on `dataset`: the dataset's gate, and the service's documents
/// for the dataset in force now. None for an unknown dataset.
///
/// # Errors
/// Forbidden for a service account; database failures.
pub async fn pending(
    state: &AppState,
    caller: &Caller,
    service: &str,
    dataset: &str,
    version: &str,
) -> Result<Vec<TosRow>, ServiceError> {
    let user_id = caller.human()?;
    let Some(d) = state.store.dataset_by_name(dataset).await? else {
        return Ok(Vec::new());
    };
    let now = state.clock.now();
    let mut out = Vec::new();
    for (t, gate) in state.store.dataset_tos_documents(d.id).await? {
        // The dataset's gate; the named service's documents on the dataset;
        // the named version's documents (of no service or this one).
        let wanted = gate
            || (!service.is_empty()
                && t.service.as_deref() == Some(service)
                && t.version.is_none()
                && t.in_force(now))
            || (!version.is_empty()
                && t.version.as_deref() == Some(version)
                && (t.service.is_none() || t.service.as_deref() == Some(service))
                && t.in_force(now));
        if wanted && !state.store.has_accepted(user_id, t.id).await? {
            out.push(t);
        }
    }
    Ok(out)
}

/// Accepts every document [`pending`] lists, each on its own (one refusal
/// does not undo the others); returns each with what happened.
///
/// # Errors
/// Forbidden for a service account; database failures.
pub async fn accept_pending(
    state: &AppState,
    caller: &Caller,
    service: &str,
    dataset: &str,
    version: &str,
    ip: Option<&str>,
) -> Result<Vec<(TosRow, Recorded)>, ServiceError> {
    let mut out = Vec::new();
    for doc in pending(state, caller, service, dataset, version).await? {
        let r = accept(state, caller, &doc, ip).await?;
        out.push((doc, r));
    }
    Ok(out)
}
