use super::*;
use proptest::prelude::*;

const NOW: Timestamp = Timestamp(1_000_000_000_000);

fn dataset(id: i64, name: &str) -> DatasetInfo {
    DatasetInfo {
        id,
        name: name.into(),
        tos_id: None,
        public: false,
    }
}

fn tos(id: i64, name: &str, dataset_id: Option<i64>, service: Option<&str>) -> TosInfo {
    TosInfo {
        id,
        name: name.into(),
        dataset_id,
        service: service.map(Into::into),
        version: None,
        effective_at: Timestamp(0),
        retired_at: None,
    }
}

fn grant(dataset_id: i64, permission: &str) -> GrantFact {
    GrantFact {
        buckets: Vec::new(),
        service: None,
        dataset_id,
        version: None,
        permission: permission.into(),
        expires_at: None,
    }
}

fn catalog() -> Catalog {
    let mut c = Catalog::default();
    for (id, name) in [(1, "fish2"), (2, "fanc"), (3, "manc")] {
        c.datasets.insert(id, dataset(id, name));
    }
    c
}

fn user() -> UserFacts {
    UserFacts {
        id: 17,
        public_name: "Alice".into(),
        email: "alice@example.org".into(),
        ..UserFacts::default()
    }
}

fn eval(c: &Catalog, u: &UserFacts) -> CacheDocument {
    eval_with(c, u, None, &TokenScope::default())
}

fn eval_with(
    c: &Catalog,
    u: &UserFacts,
    service: Option<&str>,
    scope: &TokenScope,
) -> CacheDocument {
    evaluate_user(
        c,
        u,
        &EvalContext {
            now: NOW,
            service,
            scope,
        },
    )
    .document
}

fn list(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn levels_expand_to_every_lower_level_sorted() {
    let c = catalog();
    let mut u = user();
    u.grants = vec![grant(1, "manage"), grant(2, "view"), grant(3, "admin")];
    let d = eval(&c, &u);
    assert_eq!(d.permissions_v2["fish2"], list(&["edit", "manage", "view"]));
    assert_eq!(d.permissions_v2["fanc"], list(&["view"]));
    assert_eq!(
        d.permissions_v2["manc"],
        list(&["admin", "edit", "manage", "view"])
    );
    assert_eq!(d.permissions["fish2"], 3);
    assert_eq!(d.permissions["manc"], 4);
    assert_eq!(d.datasets_admin, list(&["manc"]));
}

#[test]
fn read_only_user_loses_edit_only() {
    let c = catalog();
    let mut u = user();
    u.read_only = true;
    u.grants = vec![grant(1, "manage"), grant(2, "edit")];
    let d = eval(&c, &u);
    assert_eq!(d.permissions_v2["fish2"], list(&["manage", "view"]));
    assert_eq!(d.permissions_v2["fanc"], list(&["view"]));
    assert_eq!(d.permissions["fanc"], 1);
    assert_eq!(d.permissions["fish2"], 3);
}

#[test]
fn group_permissions_count_and_group_admin_is_reported() {
    let mut c = catalog();
    c.group_permissions.insert(
        5,
        vec![GroupPermission {
            service: None,
            dataset_id: 2,
            permission: "admin".into(),
        }],
    );
    let mut u = user();
    u.memberships = vec![MembershipFact {
        group_id: 5,
        group_name: "alpha-lab".into(),
        is_admin: true,
        expires_at: None,
    }];
    let d = eval(&c, &u);
    assert_eq!(d.groups, list(&["alpha-lab"]));
    assert_eq!(d.groups_admin, list(&["alpha-lab"]));
    assert_eq!(d.permissions["fanc"], 4);
    // Fixed: group-level admin shows in datasets_admin.
    assert_eq!(d.datasets_admin, list(&["fanc"]));
}

#[test]
fn duplicate_admin_grants_list_the_dataset_once() {
    let c = catalog();
    let mut u = user();
    u.grants = vec![grant(1, "admin"), grant(1, "admin")];
    assert_eq!(eval(&c, &u).datasets_admin, list(&["fish2"]));
}

#[test]
fn unaccepted_dataset_tos_blocks_v2_but_not_ignore_tos() {
    let mut c = catalog();
    c.tos.insert(9, tos(9, "MANC terms", Some(3), None));
    if let Some(d) = c.datasets.get_mut(&3) {
        d.tos_id = Some(9);
    }
    let mut u = user();
    u.grants = vec![grant(3, "view"), grant(1, "edit")];
    let d = eval(&c, &u);
    assert!(!d.permissions_v2.contains_key("manc"));
    assert!(!d.permissions.contains_key("manc"));
    assert_eq!(d.permissions_v2_ignore_tos["manc"], list(&["view"]));
    assert_eq!(
        d.missing_tos,
        vec![MissingTos {
            version: None,
            dataset_id: 3,
            dataset_name: "manc".into(),
            tos_id: 9,
            tos_name: "MANC terms".into(),
            service: None
        }]
    );
    u.accepted_tos.insert(9);
    let d = eval(&c, &u);
    assert_eq!(d.permissions_v2["manc"], list(&["view"]));
    assert!(d.missing_tos.is_empty());
}

#[test]
fn public_dataset_with_tos_is_listed_as_missing_without_any_grant() {
    let mut c = catalog();
    c.tos.insert(4, tos(4, "Open terms", Some(2), None));
    if let Some(d) = c.datasets.get_mut(&2) {
        d.tos_id = Some(4);
        d.public = true;
    }
    let d = eval(&c, &user());
    assert_eq!(d.missing_tos.len(), 1);
    assert_eq!(d.missing_tos[0].dataset_name, "fanc");
    assert!(d.permissions_v2.is_empty());
}

#[test]
fn tos_not_yet_effective_does_not_gate_and_sets_the_horizon() {
    let mut c = catalog();
    let mut t = tos(9, "Future", Some(1), None);
    t.effective_at = NOW.plus_secs(60);
    c.tos.insert(9, t);
    if let Some(d) = c.datasets.get_mut(&1) {
        d.tos_id = Some(9);
    }
    let mut u = user();
    u.grants = vec![grant(1, "view")];
    let scope = TokenScope::default();
    let ctx = EvalContext {
        now: NOW,
        service: None,
        scope: &scope,
    };
    let e = evaluate_user(&c, &u, &ctx);
    assert!(e.document.permissions_v2.contains_key("fish2"));
    assert_eq!(e.valid_until, Some(NOW.plus_secs(60)));
    let later = EvalContext {
        now: NOW.plus_secs(60),
        ..ctx
    };
    assert!(
        !evaluate_user(&c, &u, &later)
            .document
            .permissions_v2
            .contains_key("fish2")
    );
}

#[test]
fn retired_tos_no_longer_gates() {
    let mut c = catalog();
    let mut t = tos(9, "Old", Some(1), None);
    t.retired_at = Some(NOW);
    c.tos.insert(9, t);
    if let Some(d) = c.datasets.get_mut(&1) {
        d.tos_id = Some(9);
    }
    let mut u = user();
    u.grants = vec![grant(1, "view")];
    assert!(eval(&c, &u).permissions_v2.contains_key("fish2"));
}

#[test]
fn service_tos_applies_only_when_the_service_is_named() {
    let mut c = catalog();
    c.tos
        .insert(7, tos(7, "CT terms", Some(1), Some("celltyping")));
    let mut u = user();
    u.grants = vec![grant(1, "view")];
    let scope = TokenScope::default();
    assert!(eval(&c, &u).permissions_v2.contains_key("fish2"));
    let d = eval_with(&c, &u, Some("celltyping"), &scope);
    assert!(!d.permissions_v2.contains_key("fish2"));
    assert_eq!(d.missing_tos[0].service.as_deref(), Some("celltyping"));
    assert!(d.permissions_v2_ignore_tos.contains_key("fish2"));
    let other = eval_with(&c, &u, Some("neuprint"), &scope);
    assert!(other.permissions_v2.contains_key("fish2"));
}

#[test]
fn expired_grant_and_membership_stop_counting_at_that_instant() {
    let mut c = catalog();
    c.group_permissions.insert(
        5,
        vec![GroupPermission {
            service: None,
            dataset_id: 2,
            permission: "view".into(),
        }],
    );
    let mut u = user();
    u.grants = vec![GrantFact {
        buckets: Vec::new(),
        service: None,
        expires_at: Some(NOW.plus_secs(10)),
        ..grant(1, "edit")
    }];
    u.memberships = vec![MembershipFact {
        group_id: 5,
        group_name: "lab".into(),
        is_admin: false,
        expires_at: Some(NOW.plus_secs(20)),
    }];
    let scope = TokenScope::default();
    let at = |secs: i64| {
        evaluate_user(
            &c,
            &u,
            &EvalContext {
                now: NOW.plus_secs(secs),
                service: None,
                scope: &scope,
            },
        )
    };
    let e = at(0);
    assert_eq!(e.valid_until, Some(NOW.plus_secs(10)));
    assert!(e.document.permissions.contains_key("fish2"));
    let e = at(10);
    assert!(!e.document.permissions.contains_key("fish2"));
    assert!(e.document.permissions.contains_key("fanc"));
    assert_eq!(e.valid_until, Some(NOW.plus_secs(20)));
    let e = at(20);
    assert!(e.document.permissions.is_empty());
    assert!(e.document.groups.is_empty());
    assert_eq!(e.valid_until, None);
}

#[test]
fn version_scoped_grant_does_not_grant_the_whole_dataset() {
    let c = catalog();
    let mut u = user();
    u.grants = vec![GrantFact {
        buckets: Vec::new(),
        service: None,
        version: Some("v2".into()),
        ..grant(1, "edit")
    }];
    let d = eval(&c, &u);
    assert!(!d.permissions_v2.contains_key("fish2"));
    assert_eq!(
        d.version_permissions["fish2"]["v2"],
        list(&["edit", "view"])
    );
}

#[test]
fn token_scope_narrows_datasets_and_read_only_leaves_view() {
    let c = catalog();
    let mut u = user();
    u.admin = true;
    u.grants = vec![grant(1, "admin"), grant(2, "edit")];
    let scope = TokenScope {
        read_only: true,
        datasets: Some(["fish2".to_string()].into()),
        delegated: false,
    };
    let d = eval_with(&c, &u, None, &scope);
    assert_eq!(d.permissions_v2.len(), 1);
    assert_eq!(d.permissions_v2["fish2"], list(&["view"]));
    assert!(!d.admin);
    assert!(d.datasets_admin.is_empty());
}

#[test]
fn unknown_permission_names_are_kept_but_imply_nothing() {
    let c = catalog();
    let mut u = user();
    u.grants = vec![grant(1, "owner")];
    let d = eval(&c, &u);
    assert_eq!(d.permissions_v2["fish2"], list(&["owner"]));
    assert_eq!(d.permissions["fish2"], 0);
}

#[test]
fn service_account_document_has_grants_only() {
    let c = catalog();
    let sa = ServiceAccountFacts {
        id: 3,
        name: "ci".into(),
        email: service_account_email("ci"),
        grants: vec![grant(2, "edit")],
    };
    let scope = TokenScope::default();
    let e = evaluate_service_account(
        &c,
        &sa,
        &EvalContext {
            now: NOW,
            service: Some("x"),
            scope: &scope,
        },
    );
    let d = e.document;
    assert!(d.service_account);
    assert_eq!(d.email, "ci@service-account.dsg.local");
    assert_eq!(d.permissions_v2, d.permissions_v2_ignore_tos);
    assert_eq!(d.permissions["fanc"], 2);
    assert!(d.datasets_admin.is_empty());
}

#[test]
fn document_serialises_every_key_in_the_original_order() {
    let d = eval(&catalog(), &user());
    let json = serde_json::to_string(&d).unwrap();
    let keys = [
        "\"id\"",
        "\"parent_id\"",
        "\"service_account\"",
        "\"name\"",
        "\"email\"",
        "\"admin\"",
        "\"pi\"",
        "\"picture_url\"",
        "\"affiliations\"",
        "\"groups\"",
        "\"groups_admin\"",
        "\"permissions\"",
        "\"permissions_v2\"",
        "\"permissions_v2_ignore_tos\"",
        "\"missing_tos\"",
        "\"datasets_admin\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
}

#[test]
fn public_name_falls_back_to_name_then_email_local_part() {
    assert_eq!(public_name("Dr A", "a", "a@x"), "Dr A");
    assert_eq!(public_name("", "a", "a@x"), "a");
    assert_eq!(public_name("", "", "alice@x.org"), "alice");
}

// ---- properties ----

fn arb_level() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["view", "edit", "manage", "admin"])
}

prop_compose! {
    fn arb_grants()(gs in prop::collection::vec((1i64..4, arb_level()), 0..8)) -> Vec<GrantFact> {
        gs.into_iter().map(|(d, p)| grant(d, p)).collect()
    }
}

proptest! {
    #[test]
    fn a_higher_grant_never_yields_fewer_rights(
        grants in arb_grants(),
        dataset in 1i64..4,
        low in arb_level(),
        read_only: bool,
    ) {
        let c = catalog();
        let mut u = user();
        u.read_only = read_only;
        u.grants = grants;
        let base = eval(&c, &u);
        for higher in Level::ALL.iter().filter(|l| **l >= Level::parse(low).unwrap()) {
            let mut lo = u.clone();
            lo.grants.push(grant(dataset, low));
            let mut hi = u.clone();
            hi.grants.push(grant(dataset, higher.as_str()));
            let dl = eval(&c, &lo);
            let dh = eval(&c, &hi);
            for (name, levels) in &dl.permissions_v2 {
                let h = dh.permissions_v2.get(name).cloned().unwrap_or_default();
                for l in levels {
                    prop_assert!(h.contains(l), "{name}: {l} lost going {low} -> {higher}");
                }
            }
            // adding a grant never removes what the base had
            for (name, levels) in &base.permissions_v2 {
                for l in levels {
                    prop_assert!(dh.permissions_v2[name].contains(l));
                }
            }
        }
    }

    #[test]
    fn read_only_never_yields_edit(grants in arb_grants(), scope_ro: bool) {
        let c = catalog();
        let mut u = user();
        u.read_only = true;
        u.grants = grants;
        let scope = TokenScope { read_only: scope_ro, datasets: None, delegated: false };
        let d = eval_with(&c, &u, None, &scope);
        for lists in [&d.permissions_v2, &d.permissions_v2_ignore_tos] {
            for l in lists.values() {
                prop_assert!(!l.iter().any(|n| n == "edit"));
            }
        }
        for n in d.permissions.values() {
            prop_assert!(*n != 2);
        }
    }

    #[test]
    fn tos_filtered_permissions_are_a_subset_of_ignore_tos(grants in arb_grants(), gated in 1i64..4, accepted: bool) {
        let mut c = catalog();
        c.tos.insert(50, tos(50, "T", Some(gated), None));
        if let Some(d) = c.datasets.get_mut(&gated) { d.tos_id = Some(50); }
        let mut u = user();
        u.grants = grants;
        if accepted { u.accepted_tos.insert(50); }
        let d = eval(&c, &u);
        for (k, v) in &d.permissions_v2 {
            prop_assert_eq!(Some(v), d.permissions_v2_ignore_tos.get(k));
            prop_assert_eq!(d.permissions[k], max_level(v));
        }
    }

    #[test]
    fn numeric_level_is_the_max_of_the_list(grants in arb_grants()) {
        let c = catalog();
        let mut u = user();
        u.grants = grants.clone();
        let d = eval(&c, &u);
        for g in &grants {
            let name = &c.datasets[&g.dataset_id].name;
            prop_assert!(d.permissions[name] >= level::number_of(&g.permission));
        }
    }
}
