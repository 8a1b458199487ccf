//! Dataset translations: a service's own names for a dataset and its
//! versions (dsg-native-v1 §2.3). Listed, added and removed by those who
//! configure the dataset (its administrators and global admins).

use dsg_store::datasets::DatasetRow;
use dsg_store::translations::NewTranslation;

use super::authority::Caller;
use super::datasets::authorize_configure;
use super::{Invalid, ServiceError, commit};
use crate::state::AppState;

/// A translation as listed.
pub use dsg_store::translations::TranslationListing;

/// A translation to add.
#[derive(Debug, Clone)]
pub struct NewTranslationInput {
    /// The service whose vocabulary it is (by name).
    pub service: String,
    /// The service's dataset name.
    pub client_name: String,
    /// The service's version name (with `version`), or none.
    pub client_version: Option<String>,
    /// Our version name (with `client_version`), or none.
    pub version: Option<String>,
}

/// The dataset's translations.
///
/// # Errors
/// Forbidden unless the caller configures the dataset.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<Vec<TranslationListing>, ServiceError> {
    authorize_configure(caller, dataset)?;
    Ok(state.store.dataset_translations(dataset.id).await?)
}

/// Adds a translation; returns its id.
///
/// # Errors
/// Forbidden; an unknown service or version; a lone `client_version` or
/// `version`; a name the service already translates (409).
pub async fn add(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    input: &NewTranslationInput,
) -> Result<i64, ServiceError> {
    authorize_configure(caller, dataset)?;
    let mut tx = state.store.begin(caller.actor()).await?;
    let service_id = tx
        .service_id(&input.service)
        .await
        .map_err(|_| Invalid::Rule {
            field: Some("service"),
            message: format!("service {:?} does not exist", input.service),
        })?;
    let version_id = match &input.version {
        Some(v) => Some(
            tx.version_id(dataset.id, v)
                .await
                .map_err(|_| Invalid::Rule {
                    field: Some("version"),
                    message: format!("{} has no version {v:?}", dataset.name),
                })?,
        ),
        None => None,
    };
    let id = tx
        .create_translation(&NewTranslation {
            service_id,
            client_name: &input.client_name,
            client_version: input.client_version.as_deref(),
            dataset_id: dataset.id,
            version_id,
        })
        .await?;
    commit(state, tx).await?;
    Ok(id)
}

/// Removes one of the dataset's translations; `false` when it has no such one.
///
/// # Errors
/// Forbidden unless the caller configures the dataset.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    id: i64,
) -> Result<bool, ServiceError> {
    authorize_configure(caller, dataset)?;
    if !state
        .store
        .dataset_translations(dataset.id)
        .await?
        .iter()
        .any(|t| t.id == id)
    {
        return Ok(false);
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    let removed = tx.delete_translation(id).await?;
    commit(state, tx).await?;
    Ok(removed)
}
