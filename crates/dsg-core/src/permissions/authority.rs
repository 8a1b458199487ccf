//! The typed summary of a permission document that decisions read: whether
//! the holder is a global administrator or a service account, the groups it
//! is in and administers, and the levels it holds on each dataset (terms of
//! service ignored: managing a dataset does not wait for its terms). Built
//! once per document, beside its serialised bytes, so nothing parses JSON to
//! decide anything. The rules that combine these facts ("may X do Y") are the
//! server's use-case layer's.

use crate::level::Level;

use super::CacheDocument;

/// A set of levels, held as bits (`1 << level`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelSet(u8);

impl LevelSet {
    /// Adds a level.
    pub fn insert(&mut self, level: Level) {
        self.0 |= 1 << level.number();
    }

    /// True when `level` is in the set.
    pub fn contains(self, level: Level) -> bool {
        self.0 & (1 << level.number()) != 0
    }

    /// The levels in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = Level> {
        Level::ALL.into_iter().filter(move |l| self.contains(*l))
    }

    /// The highest level in the set, as a number (0 when empty).
    pub fn highest(self) -> u8 {
        Level::ALL
            .iter()
            .rev()
            .find(|l| self.contains(**l))
            .map_or(0, |l| l.number())
    }
}

/// What a principal's (token-scoped) document says about its authority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authority {
    /// Global administrator (false for read-only tokens and service accounts).
    pub admin: bool,
    /// A service account: it reads what it holds and manages nothing.
    pub service_account: bool,
    /// Groups the principal is in, sorted.
    pub groups: Vec<String>,
    /// Groups the principal administers, sorted.
    pub groups_admin: Vec<String>,
    /// Dataset-wide levels per dataset (TOS ignored), sorted by dataset.
    pub levels: Vec<(String, LevelSet)>,
    /// Datasets reached only through version-scoped grants, sorted.
    pub versioned: Vec<String>,
}

impl Authority {
    /// The summary of a document; `service_account` marks a service
    /// account's document.
    pub fn of(doc: &CacheDocument, service_account: bool) -> Self {
        let levels = doc
            .permissions_v2_ignore_tos
            .iter()
            .map(|(dataset, names)| {
                let mut set = LevelSet::default();
                for level in names.iter().filter_map(|n| Level::parse(n)) {
                    set.insert(level);
                }
                (dataset.clone(), set)
            })
            .collect();
        Self {
            admin: doc.admin,
            service_account,
            groups: sorted(&doc.groups),
            groups_admin: sorted(&doc.groups_admin),
            levels,
            versioned: doc.version_permissions.keys().cloned().collect(),
        }
    }

    /// The levels held dataset-wide on `dataset`.
    pub fn levels_on(&self, dataset: &str) -> Option<LevelSet> {
        self.levels
            .binary_search_by(|(d, _)| d.as_str().cmp(dataset))
            .ok()
            .map(|i| self.levels[i].1)
    }

    /// True when `level` is held dataset-wide on `dataset` (never for a
    /// service account, which manages nothing).
    pub fn holds(&self, dataset: &str, level: Level) -> bool {
        !self.service_account && self.levels_on(dataset).is_some_and(|s| s.contains(level))
    }

    /// Highest level held dataset-wide (global admin = 4, service account = 0).
    pub fn level(&self, dataset: &str) -> u8 {
        if self.admin {
            return Level::Admin.number();
        }
        if self.service_account {
            return 0;
        }
        self.levels_on(dataset).map_or(0, LevelSet::highest)
    }

    /// Any access at all to the dataset (dataset-wide or on a version).
    pub fn sees(&self, dataset: &str) -> bool {
        self.admin
            || self.levels_on(dataset).is_some()
            || self
                .versioned
                .binary_search_by(|d| d.as_str().cmp(dataset))
                .is_ok()
    }

    /// Member of the group.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups
            .binary_search_by(|g| g.as_str().cmp(group))
            .is_ok()
    }

    /// Administrator of the group (not counting global admins).
    pub fn administers_group(&self, group: &str) -> bool {
        self.groups_admin
            .binary_search_by(|g| g.as_str().cmp(group))
            .is_ok()
    }
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut v = names.to_vec();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> CacheDocument {
        CacheDocument {
            id: 1,
            parent_id: None,
            service_account: false,
            name: "a".into(),
            email: "a@x.org".into(),
            admin: false,
            pi: String::new(),
            picture_url: String::new(),
            affiliations: vec![],
            groups: vec!["lab".into(), "b".into()],
            groups_admin: vec!["lab".into()],
            permissions: Default::default(),
            permissions_v2: Default::default(),
            permissions_v2_ignore_tos: [
                (
                    "fly".to_owned(),
                    vec!["edit".to_owned(), "manage".to_owned(), "view".to_owned()],
                ),
                ("ro".to_owned(), vec!["view".to_owned()]),
            ]
            .into_iter()
            .collect(),
            missing_tos: vec![],
            datasets_admin: vec![],
            version_permissions: [("mouse".to_owned(), Default::default())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn levels_groups_and_visibility_come_from_the_document() {
        let a = Authority::of(&doc(), false);
        assert!(a.holds("fly", Level::Manage) && !a.holds("fly", Level::Admin));
        assert_eq!((a.level("fly"), a.level("ro"), a.level("none")), (3, 1, 0));
        assert!(a.sees("mouse") && a.sees("ro") && !a.sees("none"));
        assert!(a.in_group("b") && a.in_group("lab") && !a.in_group("x"));
        assert!(a.administers_group("lab") && !a.administers_group("b"));
    }

    #[test]
    fn a_service_account_holds_nothing_to_manage_with_but_sees_its_datasets() {
        let a = Authority::of(&doc(), true);
        assert!(!a.holds("fly", Level::View));
        assert_eq!(a.level("fly"), 0);
        assert!(a.sees("fly"));
    }

    #[test]
    fn a_global_admin_has_the_top_level_everywhere() {
        let mut d = doc();
        d.admin = true;
        let a = Authority::of(&d, false);
        assert_eq!(a.level("anything"), 4);
        assert!(a.sees("anything"));
    }
}
