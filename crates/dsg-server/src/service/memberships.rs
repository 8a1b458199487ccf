//! Group memberships, with expiry: listing, adding and removing members.
//! Group admins manage their own group's members; making someone a group
//! admin is for global admins. Removing a member also revokes the member's
//! grants scoped to that group (each audited).

use dsg_core::Timestamp;
use dsg_store::groups::MembershipListing;

use super::authority::Caller;
use super::input::Expiry;
use super::{ServiceError, commit};
use crate::state::AppState;

/// A group by name: its id, when the caller administers it.
///
/// # Errors
/// Not found ("Group not found"), or forbidden unless the caller is a group
/// admin of it (or a global admin).
pub async fn administered(
    state: &AppState,
    caller: &Caller,
    group: &str,
) -> Result<i64, ServiceError> {
    let gid = state
        .store
        .group_id_by_name(group)
        .await?
        .ok_or(ServiceError::NotFound("Group not found"))?;
    if !caller.is_group_admin(group) {
        return Err(ServiceError::Forbidden(None));
    }
    Ok(gid)
}

/// Every membership of the group, expired ones included.
///
/// # Errors
/// As [`administered`].
pub async fn list(
    state: &AppState,
    caller: &Caller,
    group: &str,
) -> Result<Vec<MembershipListing>, ServiceError> {
    let gid = administered(state, caller, group).await?;
    Ok(state.store.group_memberships(gid).await?)
}

/// A member to add.
#[derive(Debug, Clone, Copy)]
pub struct NewMember<'a> {
    /// The group's name.
    pub group: &'a str,
    /// The person's e-mail (an existing user).
    pub email: &'a str,
    /// Make them a group admin (global admins only).
    pub admin: bool,
    /// Expiry; must lie in the future.
    pub expires_at: Option<Timestamp>,
}

/// The membership added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// Membership id.
    pub id: i64,
    /// The member.
    pub user_id: i64,
}

/// Adds a member.
///
/// # Errors
/// As [`administered`]; forbidden when a non-global-admin asks for `admin`;
/// an expiry in the past; an unknown user; an existing membership (a store
/// conflict).
pub async fn add(
    state: &AppState,
    caller: &Caller,
    m: NewMember<'_>,
) -> Result<Added, ServiceError> {
    let gid = administered(state, caller, m.group).await?;
    if m.admin && !caller.is_admin() {
        return Err(ServiceError::Forbidden(None));
    }
    let expires_at = Expiry::future(m.expires_at, state.clock.now(), "expires_at")?.at();
    let mut tx = state.store.begin(caller.actor()).await?;
    let user_id = tx.require_user(m.email).await?;
    let id = tx.add_member(user_id, gid, m.admin, expires_at).await?;
    commit(state, tx).await?;
    Ok(Added { id, user_id })
}

/// Removes a member (and their grants scoped to the group).
///
/// # Errors
/// As [`administered`]; not found ("Member not found") when they are not a
/// member; a conflict when a group admin would remove themself as its last admin.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    group: &str,
    user_id: i64,
) -> Result<(), ServiceError> {
    let gid = administered(state, caller, group).await?;
    // A group admin leaving must not leave the group with nobody to run it
    // (a global admin may still do it: they can appoint a new one).
    if caller.user_id() == Some(user_id) && !caller.is_admin() {
        let now = state.clock.now();
        let admins: Vec<i64> = state
            .store
            .group_memberships(gid)
            .await?
            .into_iter()
            .filter(|m| m.is_admin && m.expires_at.is_none_or(|t| t > now))
            .map(|m| m.user_id)
            .collect();
        if admins == [user_id] {
            return Err(ServiceError::Conflict(format!(
                "You are the only admin of {group}: make another member admin before you leave."
            )));
        }
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    if !tx.remove_member(user_id, gid).await? {
        return Err(ServiceError::NotFound("Member not found"));
    }
    commit(state, tx).await
}
