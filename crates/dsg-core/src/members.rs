//! The members export of a dataset (dsg-native-v1 §10): who can get in,
//! one row per person, as CSV. Pure: the store hands over what each person
//! holds on the dataset, this module orders, joins, defuses formulas and
//! quotes.

use std::collections::{BTreeMap, BTreeSet};

use crate::Level;

/// The columns, in order.
pub const HEADER: [&str; 8] = [
    "email",
    "full_name",
    "permissions",
    "versions",
    "grant_details",
    "access_via",
    "groups",
    "affiliations",
];

/// A version a grant is scoped to, with what orders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionKey {
    /// Its name.
    pub name: String,
    /// Its branch.
    pub branch: String,
    /// Its ordinal on the branch (none sorts last).
    pub ordinal: Option<i64>,
}

impl VersionKey {
    fn order(&self) -> (String, bool, i64, String) {
        (
            self.branch.clone(),
            self.ordinal.is_none(),
            self.ordinal.unwrap_or(0),
            self.name.clone(),
        )
    }
}

/// How a holding reaches the person.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    /// A grant to the person, possibly tagged with a team (group).
    Direct {
        /// The group named on the grant.
        team: Option<String>,
    },
    /// A permission of a group the person is a member of.
    Group(String),
}

/// One thing a person holds on the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Permission name (`view`, …, or a custom name).
    pub permission: String,
    /// Version scope; none = dataset-wide.
    pub version: Option<VersionKey>,
    /// Service scope; none = every service.
    pub service: Option<String>,
    /// Bucket restriction (for `/gcs_token`).
    pub buckets: Vec<String>,
    /// Where it comes from.
    pub via: Via,
    /// When it ends: the grant's expiry, or the group membership's.
    pub expires_at: Option<crate::Timestamp>,
}

/// A person who can get in, with everything they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// E-mail.
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// Affiliations.
    pub affiliations: Vec<String>,
    /// What they hold.
    pub holdings: Vec<Holding>,
}

/// Sort key of a permission name: levels in level order, then others by name.
fn permission_order(name: &str) -> (u8, String) {
    (
        Level::parse(name).map_or(u8::MAX, |l| l as u8),
        name.to_owned(),
    )
}

fn detail(h: &Holding) -> String {
    let mut s = format!(
        "{}@{}",
        h.permission,
        h.version.as_ref().map_or("all", |v| v.name.as_str())
    );
    if let Some(service) = &h.service {
        s.push_str(&format!(" [{service}]"));
    }
    if !h.buckets.is_empty() {
        let mut b = h.buckets.clone();
        b.sort();
        s.push_str(&format!(" {{{}}}", b.join(",")));
    }
    if let Via::Group(g) = &h.via {
        s.push_str(&format!(" via group:{g}"));
    }
    s
}

/// The cells of one member's row, in [`HEADER`] order (not yet defused).
pub fn row(m: &Member) -> [String; 8] {
    let join = |items: Vec<String>| items.join("; ");
    let permissions: BTreeSet<(u8, String)> = m
        .holdings
        .iter()
        .map(|h| permission_order(&h.permission))
        .collect();
    let mut versions: Vec<String> = Vec::new();
    if m.holdings.iter().any(|h| h.version.is_none()) {
        versions.push("all".into());
    }
    let mut scoped: Vec<&VersionKey> = m
        .holdings
        .iter()
        .filter_map(|h| h.version.as_ref())
        .collect();
    scoped.sort_by_key(|v| v.order());
    scoped.dedup_by(|a, b| a.name == b.name);
    versions.extend(scoped.iter().map(|v| v.name.clone()));
    let mut ordered: Vec<&Holding> = m.holdings.iter().collect();
    ordered.sort_by_key(|h| {
        (
            matches!(h.via, Via::Group(_)),
            match &h.via {
                Via::Group(g) => g.clone(),
                Via::Direct { .. } => String::new(),
            },
            permission_order(&h.permission),
            h.version.as_ref().map(VersionKey::order),
            detail(h),
        )
    });
    let mut details: Vec<String> = Vec::new();
    for d in ordered.iter().map(|h| detail(h)) {
        if !details.contains(&d) {
            details.push(d);
        }
    }
    let mut via: BTreeMap<(bool, String), ()> = BTreeMap::new();
    let mut teams: BTreeSet<String> = BTreeSet::new();
    for h in &m.holdings {
        match &h.via {
            Via::Direct { team } => {
                via.insert((false, "direct".into()), ());
                teams.extend(team.clone());
            }
            Via::Group(g) => {
                via.insert((true, format!("group:{g}")), ());
            }
        }
    }
    let mut affiliations = m.affiliations.clone();
    affiliations.sort();
    affiliations.dedup();
    [
        m.email.clone(),
        m.full_name.clone(),
        join(permissions.into_iter().map(|(_, n)| n).collect()),
        join(versions),
        join(details),
        join(via.into_keys().map(|(_, v)| v).collect()),
        join(teams.into_iter().collect()),
        join(affiliations),
    ]
}

/// A cell safe to open in a spreadsheet: one starting with `=`, `+`, `-`,
/// `@`, a tab, CR, LF or their full-width forms gets a leading tab.
pub fn defused(cell: &str) -> String {
    const RISKY: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '\n', '＝', '＋', '－'];
    match cell.chars().next() {
        Some(c) if RISKY.contains(&c) || c == '＠' => format!("\t{cell}"),
        _ => cell.to_owned(),
    }
}

/// The whole file: the header, then one row per member sorted by e-mail;
/// every field defused and quoted, lines ending in CRLF (RFC 4180).
pub fn csv(members: &[Member]) -> String {
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| a.email.cmp(&b.email));
    let line = |cells: &[String]| {
        let quoted: Vec<String> = cells
            .iter()
            .map(|c| format!("\"{}\"", defused(c).replace('"', "\"\"")))
            .collect();
        format!("{}\r\n", quoted.join(","))
    };
    let mut out = line(&HEADER.map(String::from));
    for m in sorted {
        out.push_str(&line(&row(m)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, branch: &str, ordinal: Option<i64>) -> Option<VersionKey> {
        Some(VersionKey {
            name: name.into(),
            branch: branch.into(),
            ordinal,
        })
    }

    fn h(permission: &str, version: Option<VersionKey>, via: Via) -> Holding {
        Holding {
            permission: permission.into(),
            version,
            service: None,
            buckets: Vec::new(),
            via,
            expires_at: None,
        }
    }

    const DIRECT: Via = Via::Direct { team: None };

    #[test]
    fn a_row_joins_levels_versions_and_details_in_order() {
        let mut scoped = h("edit", None, DIRECT);
        scoped.service = Some("clio".into());
        let mut buckets = h("view", None, DIRECT);
        buckets.buckets = vec!["b2".into(), "b1".into()];
        let m = Member {
            email: "a@x.org".into(),
            full_name: "A".into(),
            affiliations: vec!["Lab".into(), "Inst".into()],
            holdings: vec![
                h(
                    "manage",
                    v("v2", "main", Some(2)),
                    Via::Direct {
                        team: Some("team".into()),
                    },
                ),
                h("view", None, Via::Group("user".into())),
                h("edit", v("draft", "main", None), DIRECT),
                h("edit", v("v1", "main", Some(1)), DIRECT),
                h("edit", v("exp", "dev", Some(1)), DIRECT),
                scoped,
                buckets,
            ],
        };
        let r = row(&m);
        assert_eq!(r[2], "view; edit; manage");
        assert_eq!(r[3], "all; exp; v1; v2; draft");
        assert_eq!(
            r[4],
            "view@all {b1,b2}; edit@all [clio]; edit@exp; edit@v1; edit@draft; manage@v2; \
             view@all via group:user"
        );
        assert_eq!(r[5], "direct; group:user");
        assert_eq!(r[6], "team");
        assert_eq!(r[7], "Inst; Lab");
    }

    #[test]
    fn formulas_are_defused_and_everything_is_quoted() {
        for risky in [
            "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "＝1", "＋1", "－1", "＠x",
        ] {
            assert!(defused(risky).starts_with('\t'), "{risky:?}");
        }
        assert_eq!(defused("alice"), "alice");
        assert_eq!(defused(""), "");
        let m = Member {
            email: "b@x.org".into(),
            full_name: "=HYPERLINK(\"x\")".into(),
            affiliations: Vec::new(),
            holdings: vec![h("view", None, DIRECT)],
        };
        let first = Member {
            email: "a@x.org".into(),
            ..m.clone()
        };
        let text = csv(&[m, first]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "\"email\",\"full_name\",\"permissions\",\"versions\",\"grant_details\",\"access_via\",\"groups\",\"affiliations\""
        );
        assert!(
            lines[1].starts_with("\"a@x.org\",\"\t=HYPERLINK(\"\"x\"\")\",\"view\""),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("\"b@x.org\""));
        assert_eq!(lines[3], "");
    }
}
