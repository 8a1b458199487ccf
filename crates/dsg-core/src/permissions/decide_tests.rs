use std::collections::BTreeSet;

use super::*;
use crate::permissions::{
    EvalContext, GroupPermission, MembershipFact, TranslationInfo, evaluate_user,
};

const NOW: Timestamp = Timestamp(1_000_000);

fn version(id: i64, name: &str, branch: &str, ordinal: Option<i64>, public: bool) -> VersionInfo {
    VersionInfo {
        id,
        name: name.into(),
        branch: branch.into(),
        ordinal,
        public,
        prefix: format!("{name}/"),
    }
}

fn tos(id: i64, dataset: i64, service: Option<&str>, version: Option<&str>) -> TosInfo {
    TosInfo {
        id,
        name: format!("tos{id}"),
        dataset_id: Some(dataset),
        service: service.map(Into::into),
        version: version.map(Into::into),
        effective_at: Timestamp(0),
        retired_at: None,
    }
}

/// fly (1, closed, versions v1..v3 on main, "exp" on branch dev with ordinal
/// 1, "draft" without ordinal), open (2, public, gated by TOS 10), mouse (3,
/// closed, public version m2 = ordinal 2). Services: neuprint (linear),
/// dvid (dag). neuprint calls fly "hemibrain" and its v2 "v1.2".
fn catalog() -> Catalog {
    let mut c = Catalog::default();
    for (id, name, public, tos_id) in [
        (1, "fly", false, None),
        (2, "open", true, Some(10)),
        (3, "mouse", false, None),
    ] {
        c.datasets.insert(
            id,
            DatasetInfo {
                id,
                name: name.into(),
                tos_id,
                public,
            },
        );
    }
    c.versions.insert(
        1,
        vec![
            version(11, "v1", "main", Some(1), false),
            version(12, "v2", "main", Some(2), false),
            version(13, "v3", "main", Some(3), false),
            version(14, "exp", "dev", Some(1), false),
            version(15, "draft", "main", None, false),
        ],
    );
    c.versions.insert(
        3,
        vec![
            version(31, "m1", "main", Some(1), false),
            version(32, "m2", "main", Some(2), true),
            version(33, "m3", "main", Some(3), false),
        ],
    );
    c.tos.insert(10, tos(10, 2, None, None));
    c.tos.insert(20, tos(20, 1, None, Some("v3")));
    c.tos.insert(21, tos(21, 1, Some("neuprint"), None));
    for (id, name, mode) in [
        (1, "neuprint", VersionEvalMode::Linear),
        (2, "dvid", VersionEvalMode::Dag),
    ] {
        c.services.insert(
            name.into(),
            ServiceInfo {
                id,
                name: name.into(),
                mode,
            },
        );
    }
    c.translations.entry("neuprint".into()).or_default().insert(
        "hemibrain".into(),
        vec![
            TranslationInfo {
                id: 1,
                client_version: None,
                dataset_id: 1,
                version_id: None,
            },
            TranslationInfo {
                id: 2,
                client_version: Some("v1.2".into()),
                dataset_id: 1,
                version_id: Some(12),
            },
        ],
    );
    c.group_permissions.insert(
        7,
        vec![GroupPermission {
            dataset_id: 3,
            permission: "edit".into(),
            service: Some("neuprint".into()),
        }],
    );
    c.index();
    c
}

fn grant(dataset_id: i64, version: Option<&str>, permission: &str) -> GrantFact {
    GrantFact {
        buckets: Vec::new(),
        dataset_id,
        version: version.map(Into::into),
        permission: permission.into(),
        expires_at: None,
        service: None,
    }
}

fn user(grants: Vec<GrantFact>) -> UserFacts {
    UserFacts {
        id: 5,
        email: "u@x.org".into(),
        grants,
        accepted_tos: BTreeSet::from([21]),
        ..UserFacts::default()
    }
}

fn ask<'a>(name: &'a str, version: Option<&'a str>, permission: &'a str) -> Entry<'a> {
    Entry {
        name,
        version,
        branch: None,
        permission,
    }
}

fn run(subject: Subject<'_>, service: Option<&str>, entry: Entry<'_>) -> Decision {
    let scope = TokenScope::default();
    run_scoped(subject, service, entry, &scope)
}

fn run_scoped(
    subject: Subject<'_>,
    service: Option<&str>,
    entry: Entry<'_>,
    scope: &TokenScope,
) -> Decision {
    decide(
        &catalog(),
        subject,
        &Context {
            now: NOW,
            service,
            scope,
        },
        &entry,
    )
}

fn allowed(d: &Decision) -> Option<Vec<&str>> {
    (d.outcome == Outcome::Allow).then(|| d.roles.iter().map(String::as_str).collect())
}

#[test]
fn a_grant_on_an_ordinal_covers_the_lower_ordinals_of_its_branch_only() {
    let u = user(vec![grant(1, Some("v2"), "edit")]);
    let s = Subject::User(&u);
    for (version, expect) in [
        (Some("v1"), true),
        (Some("v2"), true),
        (Some("1"), true), // ordinal nobody registered, below the grant
        (Some("v3"), false),
        (Some("7"), false),
        (Some("exp"), false), // another branch
        (Some("draft"), false),
        (None, false), // a version grant never covers the dataset
    ] {
        let d = run(s, None, ask("fly", version, "view"));
        assert_eq!(allowed(&d).is_some(), expect, "{version:?}: {d:?}");
    }
    assert_eq!(
        allowed(&run(s, None, ask("fly", Some("v1"), "edit"))),
        Some(vec!["view", "edit"])
    );
    // A version without an ordinal is covered only by its own rows.
    let u = user(vec![grant(1, Some("draft"), "view")]);
    assert!(
        allowed(&run(
            Subject::User(&u),
            None,
            ask("fly", Some("draft"), "view")
        ))
        .is_some()
    );
    assert!(
        allowed(&run(
            Subject::User(&u),
            None,
            ask("fly", Some("v1"), "view")
        ))
        .is_none()
    );
}

#[test]
fn roles_are_ordered_and_only_covering_rows_count() {
    let u = user(vec![
        grant(1, None, "manage"),
        grant(1, None, "annotation_editor"),
    ]);
    let s = Subject::User(&u);
    assert_eq!(
        allowed(&run(s, None, ask("fly", None, "view"))),
        Some(vec!["view", "edit", "manage"])
    );
    assert_eq!(
        allowed(&run(s, None, ask("fly", None, "annotation_editor"))),
        Some(vec!["annotation_editor"])
    );
    assert_eq!(
        run(s, None, ask("fly", None, "admin")).outcome,
        Outcome::Deny
    );
    assert_eq!(
        ordered_roles(BTreeSet::from(
            ["zeta", "admin", "alpha", "view"].map(String::from)
        )),
        ["view", "admin", "alpha", "zeta"]
    );
}

#[test]
fn unresolved_references_are_denied_to_everyone_admins_included() {
    let mut admin = user(vec![]);
    admin.admin = true;
    let s = Subject::User(&admin);
    for entry in [
        ask("nope", None, "view"),
        ask("fly", Some("v9-beta"), "view"),
        ask("open", Some("x"), "view"),
    ] {
        let d = run(s, None, entry);
        assert_eq!(d, Decision::deny(Reason::UnknownTranslation), "{entry:?}");
    }
    let d = run(s, None, ask("fly", Some("12"), "whatever"));
    assert_eq!(
        allowed(&d),
        Some(vec!["view", "edit", "manage", "admin"]),
        "admins get every level for a resolvable entry"
    );
}

#[test]
fn translations_map_the_clients_names_without_falling_through() {
    let u = user(vec![grant(1, Some("v2"), "view")]);
    let s = Subject::User(&u);
    // Version translation, name-level translation + our version name.
    assert!(
        allowed(&run(
            s,
            Some("neuprint"),
            ask("hemibrain", Some("v1.2"), "view")
        ))
        .is_some()
    );
    assert!(
        allowed(&run(
            s,
            Some("neuprint"),
            ask("hemibrain", Some("v1"), "view")
        ))
        .is_some()
    );
    // The name-level translation's dataset lacks this version: no fall-through.
    assert_eq!(
        run(s, Some("neuprint"), ask("hemibrain", Some("zzz"), "view")).reason,
        Reason::UnknownTranslation
    );
    // Without the service the client's name means nothing; an unknown
    // service is no service.
    assert_eq!(
        run(s, None, ask("hemibrain", Some("v1.2"), "view")).reason,
        Reason::UnknownTranslation
    );
    assert_eq!(
        run(s, Some("other"), ask("hemibrain", None, "view")).reason,
        Reason::UnknownTranslation
    );
    assert!(allowed(&run(s, Some("other"), ask("fly", Some("v1"), "view"))).is_some());
}

#[test]
fn service_scoped_rows_count_only_for_their_service() {
    let mut g = grant(1, None, "edit");
    g.service = Some("clio".into());
    let mut u = user(vec![g]);
    u.memberships.push(MembershipFact {
        group_id: 7,
        group_name: "lab".into(),
        is_admin: false,
        expires_at: None,
    });
    let s = Subject::User(&u);
    assert!(allowed(&run(s, Some("clio"), ask("fly", None, "edit"))).is_some());
    assert_eq!(
        run(s, None, ask("fly", None, "edit")).outcome,
        Outcome::Deny
    );
    assert_eq!(
        run(s, Some("neuprint"), ask("fly", None, "edit")).outcome,
        Outcome::Deny
    );
    // The group's permission on mouse is scoped to neuprint.
    assert!(allowed(&run(s, Some("neuprint"), ask("mouse", None, "edit"))).is_some());
    assert_eq!(
        run(s, None, ask("mouse", None, "edit")).outcome,
        Outcome::Deny
    );
}

#[test]
fn public_datasets_and_versions_give_view_only() {
    let anon = Subject::Anonymous;
    // open is public but gated: anonymous callers can never have accepted.
    let d = run(anon, None, ask("open", None, "view"));
    assert_eq!(
        d.outcome,
        Outcome::TosRequired {
            dataset: "open".into(),
            version: None
        }
    );
    assert_eq!(d.roles, ["view"]);
    assert_eq!(
        run(anon, None, ask("open", None, "edit")).outcome,
        Outcome::Deny
    );
    // A public version covers lower ordinals, never the dataset grain.
    for (version, expect) in [
        (Some("m1"), true),
        (Some("m2"), true),
        (Some("2"), true),
        (Some("m3"), false),
        (None, false),
    ] {
        let d = run(anon, None, ask("mouse", version, "view"));
        assert_eq!(allowed(&d).is_some(), expect, "{version:?}: {d:?}");
    }
    let sa = ServiceAccountFacts::default();
    assert_eq!(
        allowed(&run(
            Subject::ServiceAccount(&sa),
            None,
            ask("open", None, "view")
        )),
        Some(vec!["view"]),
        "service accounts read public datasets and never meet terms"
    );
}

#[test]
fn pending_terms_turn_a_covered_entry_into_tos_required() {
    let mut u = user(vec![grant(1, None, "view")]);
    u.accepted_tos.clear();
    let s = Subject::User(&u);
    // v3 has a version document; the neuprint service has a dataset document.
    let d = run(s, None, ask("fly", Some("v3"), "view"));
    assert_eq!(
        d.outcome,
        Outcome::TosRequired {
            dataset: "fly".into(),
            version: Some("v3".into())
        }
    );
    assert_eq!(d.roles, ["view"]);
    assert!(allowed(&run(s, None, ask("fly", Some("v2"), "view"))).is_some());
    assert!(matches!(
        run(s, Some("neuprint"), ask("fly", Some("v2"), "view")).outcome,
        Outcome::TosRequired { version: None, .. }
    ));
    u.accepted_tos.extend([20, 21]);
    let s = Subject::User(&u);
    assert!(allowed(&run(s, Some("neuprint"), ask("fly", Some("v3"), "view"))).is_some());
}

#[test]
fn read_only_users_and_tokens_and_limited_tokens() {
    let mut u = user(vec![grant(1, None, "admin")]);
    u.read_only = true;
    assert_eq!(
        allowed(&run(Subject::User(&u), None, ask("fly", None, "view"))),
        Some(vec!["view", "manage", "admin"])
    );
    let mut admin = user(vec![grant(1, None, "edit")]);
    admin.admin = true;
    let ro = TokenScope {
        read_only: true,
        datasets: None,
        delegated: false,
    };
    let d = run_scoped(Subject::User(&admin), None, ask("fly", None, "view"), &ro);
    assert_eq!(
        allowed(&d),
        Some(vec!["view"]),
        "no admin shortcut, view only"
    );
    let limited = TokenScope {
        read_only: false,
        datasets: Some(BTreeSet::from(["mouse".to_owned()])),
        delegated: false,
    };
    let d = run_scoped(
        Subject::User(&admin),
        None,
        ask("fly", None, "view"),
        &limited,
    );
    assert_eq!(d.outcome, Outcome::Deny);
}

#[test]
fn expired_rows_count_for_nothing() {
    let mut g = grant(1, None, "view");
    g.expires_at = Some(NOW);
    let u = user(vec![g]);
    assert_eq!(
        run(Subject::User(&u), None, ask("fly", None, "view")).outcome,
        Outcome::Deny
    );
}

#[test]
fn a_dag_service_gets_anchors_for_other_branches() {
    let u = user(vec![grant(1, Some("exp"), "edit")]);
    let s = Subject::User(&u);
    let d = run(s, Some("dvid"), ask("fly", Some("v2"), "view"));
    assert_eq!(
        d.outcome,
        Outcome::ServiceEval {
            anchors: vec![Anchor {
                branch: "dev".into(),
                version: 1,
                roles: vec!["view".into(), "edit".into()],
            }]
        }
    );
    // A linear service gets a final answer.
    assert_eq!(
        run(s, Some("neuprint"), ask("fly", Some("v2"), "view")).outcome,
        Outcome::Deny
    );
    // No anchor with an ordinal: deny.
    let u = user(vec![grant(1, Some("draft"), "view")]);
    assert_eq!(
        run(
            Subject::User(&u),
            Some("dvid"),
            ask("fly", Some("v1"), "view")
        )
        .outcome,
        Outcome::Deny
    );
}

/// The batch decision and the `user/cache` document agree on every dataset
/// for every combination of level grants, group permissions and TOS.
#[test]
fn decisions_agree_with_the_user_cache_document() {
    let c = catalog();
    let levels = ["view", "edit", "manage", "admin"];
    let mut checked = 0;
    for mask in 0..(1u32 << 6) {
        let mut grants = Vec::new();
        for (bit, (dataset, level)) in [(1, 0), (1, 2), (2, 1), (3, 3), (2, 3), (3, 0)]
            .into_iter()
            .enumerate()
        {
            if mask & (1 << bit) != 0 {
                grants.push(grant(dataset, None, levels[level]));
            }
        }
        for accepted in [BTreeSet::new(), BTreeSet::from([10, 20, 21])] {
            let mut u = user(grants.clone());
            u.accepted_tos = accepted;
            u.read_only = mask % 3 == 0;
            let scope = TokenScope::default();
            let doc = evaluate_user(
                &c,
                &u,
                &EvalContext {
                    now: NOW,
                    service: None,
                    scope: &scope,
                },
            )
            .document;
            let ctx = Context {
                now: NOW,
                service: None,
                scope: &scope,
            };
            for name in ["fly", "open", "mouse"] {
                let d = decide(&c, Subject::User(&u), &ctx, &ask(name, None, "view"));
                // The document lists names alphabetically, the decision in level order.
                let grant_roles = |l: Option<&Vec<String>>| {
                    let mut v = l.cloned().unwrap_or_default();
                    v.sort();
                    v
                };
                let mut roles = d.roles.clone();
                roles.sort();
                match d.reason {
                    Reason::Covered => {
                        assert_eq!(
                            roles,
                            grant_roles(doc.permissions_v2.get(name)),
                            "{name} {u:?}"
                        );
                        checked += 1;
                    }
                    Reason::MissingTos => {
                        assert!(!doc.permissions_v2.contains_key(name));
                        let ignore = grant_roles(doc.permissions_v2_ignore_tos.get(name));
                        assert!(ignore.is_empty() || ignore == roles, "{name}");
                        assert!(doc.missing_tos.iter().any(|m| m.dataset_name == name));
                    }
                    Reason::Public => assert!(!doc.permissions_v2_ignore_tos.contains_key(name)),
                    _ => {
                        assert_eq!(d.outcome, Outcome::Deny);
                        assert!(!doc.permissions_v2_ignore_tos.contains_key(name), "{name}");
                    }
                }
            }
        }
    }
    assert!(checked > 50);
}

fn bucket(bucket_id: i64, dataset_id: i64, version_ids: &[i64]) -> BucketRow {
    BucketRow {
        bucket_id,
        dataset_id,
        version_ids: version_ids.to_vec(),
    }
}

fn gcs(u: &UserFacts, rows: &[BucketRow]) -> BucketDecision {
    decide_bucket(&catalog(), u, &TokenScope::default(), NOW, rows)
}

#[test]
fn a_bucket_is_the_union_of_every_row_that_names_it() {
    let nobody = user(vec![]);
    assert_eq!(
        gcs(&nobody, &[]),
        BucketDecision::Denied {
            reason: "unknown_bucket"
        }
    );
    // fly's row is closed; mouse's row carries the public version m2 (prefix "m2/").
    let rows = [bucket(100, 1, &[]), bucket(300, 3, &[32])];
    assert_eq!(
        gcs(&nobody, &rows),
        BucketDecision::Issue {
            reason: Reason::PublicVersion,
            prefixes: Some(vec!["m2/".into()])
        }
    );
    assert_eq!(
        gcs(&nobody, &rows[..1]),
        BucketDecision::Denied {
            reason: "no_coverage"
        }
    );
    // A dataset-wide grant opens the whole bucket.
    let reader = user(vec![grant(1, None, "view")]);
    assert_eq!(
        gcs(&reader, &rows),
        BucketDecision::Issue {
            reason: Reason::Covered,
            prefixes: None
        }
    );
    // A version grant reaches lower ordinals of the anchors by ordinal.
    let v3 = user(vec![grant(1, Some("v3"), "view")]);
    assert_eq!(
        gcs(&v3, &[bucket(101, 1, &[11])]),
        BucketDecision::Issue {
            reason: Reason::Covered,
            prefixes: Some(vec!["v1/".into()])
        }
    );
    assert_eq!(
        gcs(&v3, &[bucket(101, 1, &[])]),
        BucketDecision::Denied {
            reason: "no_coverage"
        },
        "a version grant never covers the dataset grain"
    );
}

#[test]
fn service_scoped_rows_and_other_buckets_do_not_open_a_bucket() {
    let mut scoped = grant(1, None, "view");
    scoped.service = Some("neuprint".into());
    assert_eq!(
        gcs(&user(vec![scoped]), &[bucket(100, 1, &[])]),
        BucketDecision::Denied {
            reason: "no_coverage"
        }
    );
    let mut restricted = grant(1, None, "view");
    restricted.buckets = vec![100];
    let u = user(vec![restricted]);
    assert!(matches!(
        gcs(&u, &[bucket(100, 1, &[])]),
        BucketDecision::Issue { .. }
    ));
    assert_eq!(
        gcs(&u, &[bucket(102, 1, &[])]),
        BucketDecision::Denied {
            reason: "no_coverage"
        }
    );
}

#[test]
fn pending_terms_block_a_bucket_unless_another_anchor_issues() {
    // open (2) is public and gated by TOS 10.
    let mut u = user(vec![]);
    assert_eq!(
        gcs(&u, &[bucket(200, 2, &[])]),
        BucketDecision::TosRequired {
            dataset: "open".into(),
            version: None
        }
    );
    assert!(matches!(
        gcs(&u, &[bucket(200, 2, &[]), bucket(300, 3, &[32])]),
        BucketDecision::Issue { .. }
    ));
    u.accepted_tos.insert(10);
    assert_eq!(
        gcs(&u, &[bucket(200, 2, &[])]),
        BucketDecision::Issue {
            reason: Reason::Public,
            prefixes: None
        }
    );
    // v3's version document blocks its anchor.
    let mut v = user(vec![grant(1, None, "view")]);
    v.accepted_tos.clear();
    assert_eq!(
        gcs(&v, &[bucket(103, 1, &[13])]),
        BucketDecision::TosRequired {
            dataset: "fly".into(),
            version: Some("v3".into())
        }
    );
}
