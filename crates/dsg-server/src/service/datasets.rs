//! Datasets and what they are made of: creating datasets (global admins),
//! their versions and buckets (the dataset's administrators), who may see
//! which dataset and its versions, and self-service `view` access to public
//! datasets (at once when they have no terms of service, through their
//! terms otherwise — see [`super::tos::accept`]).

use dsg_store::datasets::DatasetRow;
use dsg_store::grants::NewGrant;

use super::authority::Caller;
use super::{Invalid, ServiceError, commit};
use crate::state::AppState;

/// A dataset by name.
///
/// # Errors
/// "Dataset not found".
pub async fn find(state: &AppState, name: &str) -> Result<DatasetRow, ServiceError> {
    state
        .store
        .dataset_by_name(name)
        .await?
        .ok_or(ServiceError::NotFound("Dataset not found"))
}

/// A dataset whose versions the caller may see (any access to it, or a
/// public dataset); to everyone else it does not exist.
///
/// # Errors
/// "Dataset not found".
pub async fn visible(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<DatasetRow, ServiceError> {
    let d = find(state, name).await?;
    if caller.may_see_versions(&d.name, d.access_mode == "public") {
        Ok(d)
    } else {
        Err(ServiceError::NotFound("Dataset not found"))
    }
}

/// The datasets the caller holds anything on (global admins: all), by name.
///
/// # Errors
/// Database failures.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<DatasetRow>, ServiceError> {
    let all = state.store.all_datasets().await?;
    Ok(all.into_iter().filter(|d| caller.sees(&d.name)).collect())
}

/// May the caller create datasets? Global admins.
///
/// # Errors
/// Forbidden.
pub fn authorize_create(caller: &Caller) -> Result<(), ServiceError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// A dataset to create (`POST /api/v1/datasets`).
#[derive(Debug, Clone)]
pub struct NewDataset {
    /// Slug: 1–100 letters, digits, `-` or `_`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `closed` or `public`.
    pub access_mode: String,
}

/// Creates a dataset. Global admins. Returns its id.
///
/// # Errors
/// Forbidden; a name that is not a slug or is taken; an unknown access mode.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: &NewDataset,
) -> Result<i64, ServiceError> {
    authorize_create(caller)?;
    dsg_store::service_accounts::validate_slug("dataset name", &input.name)
        .map_err(dsg_store::StoreError::from)?;
    let mut tx = state.store.begin(caller.actor()).await?;
    let id = tx
        .create_dataset(&input.name, &input.description, &input.access_mode)
        .await?;
    commit(state, tx).await?;
    Ok(id)
}

/// May the caller change the dataset's versions and buckets? Its
/// administrators.
///
/// # Errors
/// Forbidden.
pub fn authorize_configure(caller: &Caller, dataset: &DatasetRow) -> Result<(), ServiceError> {
    if caller.may_configure_dataset(&dataset.name) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// A version to add (`POST /api/v1/datasets/{name}/versions`).
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// Version name, unique in the dataset.
    pub version: String,
    /// Object prefix inside the buckets.
    pub prefix: String,
    /// Readable by everyone.
    pub is_public: bool,
    /// Names of the dataset's buckets that hold it.
    pub buckets: Vec<String>,
    /// Branch and ordinal.
    pub place: dsg_store::datasets::VersionPlace,
}

/// Adds a version to a dataset, stored in some of its buckets. The
/// dataset's administrators. Returns its id.
///
/// # Errors
/// Forbidden; a bucket that is not the dataset's; a version that exists.
pub async fn add_version(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    input: &NewVersion,
) -> Result<i64, ServiceError> {
    authorize_configure(caller, dataset)?;
    let known = state.store.buckets_of_dataset(dataset.id).await?;
    let mut ids = Vec::new();
    for n in &input.buckets {
        let id = known
            .iter()
            .find(|(_, b)| b == n)
            .map(|(id, _)| *id)
            .ok_or_else(|| Invalid::Rule {
                field: Some("buckets"),
                message: format!("bucket {n:?} is not a bucket of {}", dataset.name),
            })?;
        ids.push(id);
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    let id = tx
        .add_version(
            dataset.id,
            &input.version,
            &input.prefix,
            input.is_public,
            &ids,
            &input.place,
        )
        .await?;
    commit(state, tx).await?;
    Ok(id)
}

/// May the caller see the dataset's buckets? Its managers.
///
/// # Errors
/// Forbidden.
pub fn authorize_buckets(caller: &Caller, dataset: &DatasetRow) -> Result<(), ServiceError> {
    if caller.can_manage(&dataset.name) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// The dataset's buckets, `(id, name)`. Its managers.
///
/// # Errors
/// Forbidden.
pub async fn buckets(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<Vec<(i64, String)>, ServiceError> {
    authorize_buckets(caller, dataset)?;
    Ok(state.store.buckets_of_dataset(dataset.id).await?)
}

/// Adds a bucket (a bare GCS bucket name) to a dataset. The dataset's
/// administrators. Returns its id.
///
/// # Errors
/// Forbidden; a name with `gs://` or `/`; a bucket the dataset has.
pub async fn add_bucket(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    name: &str,
) -> Result<i64, ServiceError> {
    authorize_buckets(caller, dataset)?;
    authorize_configure(caller, dataset)?;
    if name.starts_with("gs://") || name.contains('/') {
        return Err(Invalid::Rule {
            field: Some("name"),
            message: "name is a bare GCS bucket name, without gs:// or /".into(),
        }
        .into());
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    let id = tx.add_bucket(dataset.id, name).await?;
    commit(state, tx).await?;
    Ok(id)
}

/// What [`self_serve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfServe {
    /// The person now has `view`.
    Granted,
    /// The person had a grant on the dataset already; nothing changed.
    Already,
    /// The dataset is invite-only: ask for access instead.
    InviteOnly,
    /// The dataset has terms of service: accepting them gives access.
    TermsFirst,
}

/// A person takes `view` on a public dataset without terms of service.
///
/// # Errors
/// Forbidden for a service account; database failures.
pub async fn self_serve(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<SelfServe, ServiceError> {
    let user_id = caller.human()?;
    if dataset.access_mode != "public" {
        return Ok(SelfServe::InviteOnly);
    }
    if dataset.has_tos {
        return Ok(SelfServe::TermsFirst);
    }
    if state.store.has_grant_on(user_id, dataset.id).await? {
        return Ok(SelfServe::Already);
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    grant_self_service_view(&mut tx, user_id, dataset.id).await?;
    commit(state, tx).await?;
    Ok(SelfServe::Granted)
}

/// The self-service `view` grant on a public dataset (here and when its
/// terms are accepted).
pub(super) async fn grant_self_service_view(
    tx: &mut dsg_store::WriteTx,
    user_id: i64,
    dataset_id: i64,
) -> Result<i64, ServiceError> {
    Ok(tx
        .create_grant(&NewGrant {
            service_id: None,
            bucket_ids: &[],
            user_id,
            dataset_id,
            version_id: None,
            permission: "view",
            group_id: None,
            granted_by: None,
            source: "self_service",
            expires_at: None,
        })
        .await?)
}
