//! Service tables and public roots: which dataset a CAVE service's table
//! belongs to (the dataset's administrators map and unmap tables), and which
//! root ids of a table are public (any manager of the dataset marks and
//! unmarks them). The CAVE API reads both, mostly anonymously.

use dsg_store::datasets::DatasetRow;
use dsg_store::tables::ServiceTableListing;

use super::authority::Caller;
use super::{Invalid, ServiceError, commit};
use crate::state::AppState;

/// The name of the dataset a service's table belongs to.
///
/// # Errors
/// "Table not found".
pub async fn dataset_of_table(
    state: &AppState,
    service: &str,
    table: &str,
) -> Result<String, ServiceError> {
    state
        .store
        .dataset_for_table(service, table)
        .await?
        .ok_or(ServiceError::NotFound("Table not found"))
}

/// Whether a table has any public root.
///
/// # Errors
/// Database failures.
pub async fn has_public(state: &AppState, table: &str) -> Result<bool, ServiceError> {
    Ok(state.store.table_has_public(table).await?)
}

/// For each of `roots`, in order, whether it is a public root of `table`
/// (`None`, a root id that could not be read, is never public).
///
/// # Errors
/// Database failures.
pub async fn roots_public(
    state: &AppState,
    table: &str,
    roots: &[Option<i64>],
) -> Result<Vec<bool>, ServiceError> {
    let ids: Vec<i64> = roots.iter().flatten().copied().collect();
    let public = state.store.roots_public(table, &ids).await?;
    let mut it = public.into_iter();
    Ok(roots
        .iter()
        .map(|r| r.is_some() && it.next().unwrap_or(false))
        .collect())
}

/// May the caller see and change the dataset's public roots (and see its
/// service tables)? Its managers.
///
/// # Errors
/// Forbidden.
pub fn authorize(caller: &Caller, dataset: &DatasetRow) -> Result<(), ServiceError> {
    if caller.can_manage(&dataset.name) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// The dataset's service tables with their public roots. Its managers.
///
/// # Errors
/// Forbidden.
pub async fn listing(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<Vec<ServiceTableListing>, ServiceError> {
    authorize(caller, dataset)?;
    Ok(state.store.dataset_service_tables(dataset.id).await?)
}

fn authorize_tables(caller: &Caller, dataset: &DatasetRow) -> Result<(), ServiceError> {
    authorize(caller, dataset)?;
    if caller.may_configure_dataset(&dataset.name) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Some(
            "Only dataset administrators can manage service tables".into(),
        )))
    }
}

/// Maps a service's table to the dataset. The dataset's administrators.
/// Returns its id.
///
/// # Errors
/// Forbidden (with a message for managers); a blank name; a table that is
/// mapped already.
pub async fn add_table(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    service: &str,
    table: &str,
) -> Result<i64, ServiceError> {
    authorize_tables(caller, dataset)?;
    if service.is_empty() || table.is_empty() {
        let field = if service.is_empty() {
            "service_name"
        } else {
            "table_name"
        };
        return Err(Invalid::Rule {
            field: Some(field),
            message: "Service name and table name are required".into(),
        }
        .into());
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    let id = tx.add_service_table(dataset.id, service, table).await?;
    commit(state, tx).await?;
    Ok(id)
}

/// Unmaps one of the dataset's service tables (its public roots go with
/// it). The dataset's administrators. Returns `(service, table)`.
///
/// # Errors
/// Forbidden (with a message for managers); "Service table not found".
pub async fn remove_table(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    table_id: Option<i64>,
) -> Result<dsg_store::tables::RemovedTable, ServiceError> {
    authorize_tables(caller, dataset)?;
    let not_found = ServiceError::NotFound("Service table not found");
    let Some(table_id) = table_id else {
        return Err(not_found);
    };
    let mut tx = state.store.begin(caller.actor()).await?;
    let Some(removed) = tx.remove_service_table(dataset.id, table_id).await? else {
        return Err(not_found);
    };
    commit(state, tx).await?;
    Ok(removed)
}

/// Marks a root id public in one of the dataset's service tables. Its
/// managers. Returns the new row's id.
///
/// # Errors
/// Forbidden; no such table of the dataset or no root id; a root that is
/// public already.
pub async fn add_root(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    table_id: Option<i64>,
    root: Option<i64>,
) -> Result<i64, ServiceError> {
    authorize(caller, dataset)?;
    let tables = state.store.dataset_service_tables(dataset.id).await?;
    let table = table_id.and_then(|id| tables.iter().find(|t| t.id == id));
    let (Some(table), Some(root)) = (table, root) else {
        return Err(Invalid::Rule {
            field: Some("root_id"),
            message: "Invalid service table or root ID".into(),
        }
        .into());
    };
    let mut tx = state.store.begin(caller.actor()).await?;
    let id = tx.add_public_root(table.id, root).await?;
    commit(state, tx).await?;
    Ok(id)
}

/// Unmarks a public root of one of the dataset's service tables. Its
/// managers. Returns the root id.
///
/// # Errors
/// Forbidden; "Public root not found".
pub async fn remove_root(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    public_root_id: Option<i64>,
) -> Result<i64, ServiceError> {
    authorize(caller, dataset)?;
    let not_found = ServiceError::NotFound("Public root not found");
    let Some(id) = public_root_id else {
        return Err(not_found);
    };
    let mut tx = state.store.begin(caller.actor()).await?;
    let Some(root) = tx.remove_public_root(dataset.id, id).await? else {
        return Err(not_found);
    };
    commit(state, tx).await?;
    Ok(root)
}
