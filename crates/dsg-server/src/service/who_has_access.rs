//! Who can get into a dataset, and how: every person (direct grant or group
//! permission) and service account with a live grant, pending invitations,
//! and counts per level and path, for the dataset's managers. One read of
//! what the members export reads ([`dsg_store::members`]), plus service
//! accounts and invitations.

use std::collections::BTreeSet;

use dsg_core::members::Via;
use dsg_core::{Level, Timestamp};
use dsg_store::datasets::DatasetRow;
use dsg_store::invitations::InvitationRow;

use super::ServiceError;
use super::authority::Caller;
use crate::state::AppState;

/// One person or service account who can get in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLine {
    /// E-mail, or the service account's name.
    pub subject: String,
    /// The highest level held.
    pub level: String,
    /// How: "direct grant", "group lab", "service account grant".
    pub paths: Vec<String>,
    /// Version scope in words ("all versions" or the version names).
    pub versions: String,
    /// When the last way in ends (none: one of them never does).
    pub expires_at: Option<Timestamp>,
}

/// How many can get in at one level, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelCount {
    /// The level.
    pub level: &'static str,
    /// People with a direct grant at this level (as their highest).
    pub direct: usize,
    /// People who reach it only through a group.
    pub group: usize,
    /// Service accounts.
    pub service_accounts: usize,
    /// Pending invitations at this level.
    pub invited: usize,
}

/// The whole answer.
#[derive(Debug, Clone, Default)]
pub struct WhoHasAccess {
    /// People, by e-mail.
    pub people: Vec<AccessLine>,
    /// Service accounts, by name.
    pub service_accounts: Vec<AccessLine>,
    /// Invitations not yet redeemed and not lapsed.
    pub invitations: Vec<InvitationRow>,
    /// Counts per level, lowest first.
    pub per_level: Vec<LevelCount>,
}

fn rank(permission: &str) -> u8 {
    Level::parse(permission).map_or(0, |l| l as u8)
}

/// The latest end among ways in; none when one of them never ends.
fn last_end(ends: impl IntoIterator<Item = Option<Timestamp>>) -> Option<Timestamp> {
    let mut latest = None;
    for e in ends {
        match e {
            None => return None,
            Some(t) => latest = Some(latest.map_or(t, |l: Timestamp| l.max(t))),
        }
    }
    latest
}

fn versions_text(names: &BTreeSet<Option<String>>) -> String {
    if names.contains(&None) || names.is_empty() {
        "all versions".into()
    } else {
        names
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Who can get into `dataset`: for people who manage it and global admins.
///
/// # Errors
/// Forbidden for anyone else; the store's.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<WhoHasAccess, ServiceError> {
    caller.person()?;
    if !caller.can_manage(&dataset.name) {
        return Err(ServiceError::Forbidden(None));
    }
    let now = state.clock.now();
    let members = state.store.dataset_members(dataset.id, now).await?;
    let accounts = state
        .store
        .dataset_service_account_holdings(dataset.id, now)
        .await?;
    let invitations: Vec<InvitationRow> = state
        .store
        .dataset_invitations(dataset.id)
        .await?
        .into_iter()
        .filter(|i| i.accepted_at.is_none() && i.expires_at.is_none_or(|t| t > now))
        .collect();
    let mut per_level: Vec<LevelCount> = Level::ALL
        .iter()
        .map(|l| LevelCount {
            level: l.as_str(),
            direct: 0,
            group: 0,
            service_accounts: 0,
            invited: 0,
        })
        .collect();
    let mut count = |permission: &str, f: &dyn Fn(&mut LevelCount)| {
        if let Some(c) = per_level.iter_mut().find(|c| c.level == permission) {
            f(c);
        }
    };
    let mut people = Vec::with_capacity(members.len());
    for m in members {
        let Some(top) = m.holdings.iter().max_by_key(|h| rank(&h.permission)) else {
            continue;
        };
        let level = top.permission.clone();
        let direct_at_top = m
            .holdings
            .iter()
            .any(|h| h.permission == level && matches!(h.via, Via::Direct { .. }));
        count(&level, &|c| {
            if direct_at_top {
                c.direct += 1;
            } else {
                c.group += 1;
            }
        });
        let mut paths: Vec<String> = m
            .holdings
            .iter()
            .map(|h| match &h.via {
                Via::Direct { .. } => "direct grant".to_owned(),
                Via::Group(g) => format!("group {g}"),
            })
            .collect();
        paths.sort();
        paths.dedup();
        let versions: BTreeSet<Option<String>> = m
            .holdings
            .iter()
            .map(|h| h.version.as_ref().map(|v| v.name.clone()))
            .collect();
        people.push(AccessLine {
            subject: m.email,
            level,
            paths,
            versions: versions_text(&versions),
            expires_at: last_end(m.holdings.iter().map(|h| h.expires_at)),
        });
    }
    people.sort_by(|a, b| a.subject.cmp(&b.subject));
    let mut service_accounts: Vec<AccessLine> = Vec::new();
    for a in accounts {
        match service_accounts.iter_mut().find(|l| l.subject == a.name) {
            Some(line) => {
                if rank(&a.permission) > rank(&line.level) {
                    line.level.clone_from(&a.permission);
                }
                line.expires_at = last_end([line.expires_at, a.expires_at]);
                if a.version.is_none() {
                    line.versions = "all versions".into();
                } else if line.versions != "all versions" {
                    line.versions = format!("{}, {}", line.versions, a.version.unwrap_or_default());
                }
            }
            None => service_accounts.push(AccessLine {
                subject: a.name,
                level: a.permission,
                paths: vec!["service account grant".into()],
                versions: a.version.unwrap_or_else(|| "all versions".into()),
                expires_at: a.expires_at,
            }),
        }
    }
    for a in &service_accounts {
        count(&a.level, &|c| c.service_accounts += 1);
    }
    for i in &invitations {
        count(&i.permission, &|c| c.invited += 1);
    }
    Ok(WhoHasAccess {
        people,
        service_accounts,
        invitations,
        per_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_way_in_decides_the_end() {
        let t = |s| Some(Timestamp::from_secs(s));
        assert_eq!(last_end([t(5), t(9), t(7)]), t(9));
        assert_eq!(last_end([t(5), None]), None);
        assert_eq!(last_end([]), None);
    }

    #[test]
    fn versions_in_words() {
        let mut v = BTreeSet::new();
        v.insert(Some("v2".to_owned()));
        v.insert(Some("v1".to_owned()));
        assert_eq!(versions_text(&v), "v1, v2");
        v.insert(None);
        assert_eq!(versions_text(&v), "all versions");
    }
}
