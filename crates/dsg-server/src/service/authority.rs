//! Who is asking, and every rule about what they may do (spec §4.9, with the
//! original's bugs fixed). A [`Caller`] is an authenticated principal with
//! the typed summary of its token-scoped permission document, so a read-only
//! or dataset-limited token never manages more than it can see; each "may X
//! do Y" question is one method here, asked by the use cases and by the
//! front-ends that decide what to offer.

use dsg_core::level::{Level, number_of};
use dsg_core::permissions::authority::Authority;
use dsg_store::tokens::PrincipalRef;
use dsg_store::write::Actor;

use super::ServiceError;
use crate::cache::Authenticated;
use crate::config::AccessConfig;

/// An authenticated principal making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    auth: Authenticated,
    request_id: Option<String>,
}

impl Caller {
    /// The caller behind an authentication; `request_id` goes into the audit
    /// rows of what it changes.
    pub fn new(auth: Authenticated, request_id: Option<String>) -> Self {
        Self { auth, request_id }
    }

    /// The authentication (document and token).
    pub fn authenticated(&self) -> &Authenticated {
        &self.auth
    }

    /// The typed summary of the caller's document.
    pub fn authority(&self) -> &Authority {
        &self.auth.document.authority
    }

    /// Who the caller is.
    pub fn principal(&self) -> PrincipalRef {
        self.auth.token.principal
    }

    /// The caller's e-mail (synthetic for service accounts).
    pub fn email(&self) -> &str {
        &self.auth.document.info.email
    }

    /// The request id recorded with the caller's changes.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The user id of a person; `None` for a service account.
    pub fn user_id(&self) -> Option<i64> {
        match self.principal() {
            PrincipalRef::User(id) => Some(id),
            PrincipalRef::ServiceAccount(_) => None,
        }
    }

    /// A person's user id.
    ///
    /// # Errors
    /// Forbidden for a service account (the original's answer).
    pub fn human(&self) -> Result<i64, ServiceError> {
        self.user_id().ok_or(ServiceError::Forbidden(None))
    }

    /// A person acting with a credential of their own, not a key a
    /// registered web client received (spec §9.2): what token management,
    /// access requests and invitations need.
    ///
    /// # Errors
    /// Forbidden for a service account or a delegated key.
    pub fn person(&self) -> Result<i64, ServiceError> {
        if self.delegated() {
            return Err(ServiceError::Forbidden(None));
        }
        self.human()
    }

    /// A global administrator acting as a person (not a service account,
    /// not a delegated key, not a read-only token).
    ///
    /// # Errors
    /// Forbidden for anyone else.
    pub fn global_admin(&self) -> Result<(), ServiceError> {
        if self.may_manage_service_accounts() {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(None))
        }
    }

    /// True when the credential is a delegated key.
    pub fn delegated(&self) -> bool {
        self.auth.token.scope.delegated
    }

    /// The audit actor.
    pub fn actor(&self) -> Actor {
        match self.principal() {
            PrincipalRef::User(id) => Actor::user(id, self.email(), self.request_id.clone()),
            PrincipalRef::ServiceAccount(_) => Actor {
                id: None,
                label: format!("sa:{}", self.email()),
                request_id: self.request_id.clone(),
            },
        }
    }

    /// Global administrator (false for read-only tokens and service accounts).
    pub fn is_admin(&self) -> bool {
        self.authority().admin
    }

    /// Global admin, or `manage` on the dataset (from a grant or a group).
    pub fn can_manage(&self, dataset: &str) -> bool {
        self.is_admin() || self.authority().holds(dataset, Level::Manage)
    }

    /// Global admin, or `admin` on the dataset.
    pub fn is_dataset_admin(&self, dataset: &str) -> bool {
        self.is_admin() || self.authority().holds(dataset, Level::Admin)
    }

    /// Any access at all to the dataset (any version).
    pub fn sees(&self, dataset: &str) -> bool {
        self.authority().sees(dataset)
    }

    /// Highest level held dataset-wide (global admin = 4).
    pub fn level(&self, dataset: &str) -> u8 {
        self.authority().level(dataset)
    }

    /// Global admin or administrator of the group.
    pub fn is_group_admin(&self, group: &str) -> bool {
        self.is_admin() || self.authority().administers_group(group)
    }

    /// Member of the group.
    pub fn in_group(&self, group: &str) -> bool {
        self.authority().in_group(group)
    }

    /// May the caller grant, time-limit or revoke `permission` on `dataset`?
    /// Appointing dataset admins needs `admin` on the dataset or membership
    /// of `access.admin_appointer_group` (the original's literal `sc` group
    /// has no power unless configured); any other level needs `manage` and
    /// no more than the caller's own level.
    pub fn may_handle_level(&self, access: &AccessConfig, dataset: &str, permission: &str) -> bool {
        if permission == Level::Admin.as_str() {
            return self.is_dataset_admin(dataset)
                || access
                    .admin_appointer_group
                    .as_deref()
                    .is_some_and(|g| self.in_group(g));
        }
        self.can_manage(dataset) && number_of(permission) <= self.level(dataset)
    }

    /// May the caller revoke the user token `owner` holds? Its owner, or a
    /// global admin.
    pub fn may_revoke_token(&self, owner: i64) -> bool {
        self.user_id() == Some(owner) || self.is_admin()
    }

    /// May the caller manage service accounts (create, change, disable,
    /// delete them, mint and revoke their tokens, grant them access)? Global
    /// admins only, and only people.
    pub fn may_manage_service_accounts(&self) -> bool {
        self.user_id().is_some() && self.is_admin()
    }

    /// May the caller change (re-time or revoke) `user_id`'s `permission`
    /// grant on `dataset`? As for granting it, and nobody but a global admin
    /// changes their own grants.
    pub fn may_change_grant(
        &self,
        access: &AccessConfig,
        dataset: &str,
        permission: &str,
        user_id: i64,
    ) -> bool {
        self.may_handle_level(access, dataset, permission)
            && (self.user_id() != Some(user_id) || self.is_admin())
    }
}

/// Terms of service, access requests, datasets and their tables.
impl Caller {
    /// May the caller create or retire a terms-of-service document scoped
    /// to `dataset` (its administrators), or one with no dataset (global
    /// admins)?
    pub fn may_edit_tos(&self, dataset: Option<&str>) -> bool {
        dataset.map_or(self.is_admin(), |d| self.is_dataset_admin(d))
    }

    /// May the caller see a document's invitation link: managers of its
    /// dataset (global admins for documents without one)?
    pub fn may_share_tos(&self, dataset: Option<&str>) -> bool {
        dataset.map_or(self.is_admin(), |d| self.can_manage(d))
    }

    /// May the caller see and decide the access requests of `dataset`?
    /// Its administrators (managers are not enough).
    pub fn may_decide_requests(&self, dataset: &str) -> bool {
        self.is_dataset_admin(dataset)
    }

    /// May the caller change what a dataset is made of (versions, buckets,
    /// service tables)? Its administrators.
    pub fn may_configure_dataset(&self, dataset: &str) -> bool {
        self.is_dataset_admin(dataset)
    }

    /// May the caller see a dataset's versions (and bucket names)? Anyone
    /// with access to it, or anyone when it is public.
    pub fn may_see_versions(&self, dataset: &str, public: bool) -> bool {
        public || self.sees(dataset)
    }
}
