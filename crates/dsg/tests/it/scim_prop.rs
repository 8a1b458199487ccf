//! Property: for random users and groups and random filters, the filter
//! evaluated in SQL (on SQLite and on PostgreSQL) selects exactly the users
//! that the in-memory evaluation of the same bound filter selects.

use std::collections::BTreeSet;

use dsg_core::scim::cond::bind_filter;
use dsg_core::scim::fields::{GroupFields, UserFields};
use dsg_core::scim::schema::Kind;
use dsg_store::scim::ScimQuery;
use dsg_store::write::Actor;
use dsg_testkit::{Backend, spawn_app};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// Short strings over an alphabet with case variants, LIKE wildcards and separators.
fn word(max: usize) -> impl Strategy<Value = String> {
    const ALPHABET: [&str; 9] = ["a", "A", "b", "B", "%", "_", "\\", ".", "@"];
    proptest::collection::vec(proptest::sample::select(&ALPHABET[..]), 0..=max)
        .prop_map(|v| v.concat())
}

#[derive(Debug, Clone)]
struct UserSpec {
    local: String,
    domain: &'static str,
    given: String,
    family: String,
    display: String,
    pi: String,
    external: Option<String>,
    active: bool,
    admin: bool,
    gdpr: bool,
    age: i64,
}

fn user() -> impl Strategy<Value = UserSpec> {
    (
        word(4).prop_filter("non-empty", |s| !s.is_empty() && !s.contains('@')),
        prop_oneof![Just("x.org"), Just("X.org"), Just("ab.com")],
        word(3),
        word(3),
        word(3),
        word(2),
        proptest::option::of(word(3).prop_filter("non-empty", |s| !s.is_empty())),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0i64..5,
    )
        .prop_map(
            |(local, domain, given, family, display, pi, external, active, admin, gdpr, age)| {
                UserSpec {
                    local,
                    domain,
                    given,
                    family,
                    display,
                    pi,
                    external,
                    active,
                    admin,
                    gdpr,
                    age,
                }
            },
        )
}

/// A point in time around the users' `lastModified` values.
const EPOCH: i64 = 1_780_000_000_000_000;
const STEP: i64 = 1_000_000;

fn time_literal() -> impl Strategy<Value = String> {
    (0i64..6, prop_oneof![Just(0i64), Just(1), Just(-1)]).prop_map(|(k, nudge)| {
        format!(
            "\"{}\"",
            dsg_core::Timestamp(EPOCH + k * STEP + nudge).to_rfc3339()
        )
    })
}

fn string_attr() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("userName"),
        Just("name.givenName"),
        Just("NAME.familyname"),
        Just("displayName"),
        Just("externalId"),
        Just("urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User:pi"),
        Just("emails.value"),
        Just("emails"),
        Just("groups.display"),
        Just("groups.value"),
        Just("id"),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    let op = prop_oneof![
        Just("eq"),
        Just("ne"),
        Just("co"),
        Just("sw"),
        Just("ew"),
        Just("gt"),
        Just("ge"),
        Just("lt"),
        Just("le")
    ];
    let lit = word(3).prop_map(|w| serde_json::Value::String(w).to_string());
    prop_oneof![
        (string_attr(), op, lit).prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        string_attr().prop_map(|a| format!("{a} pr")),
        (
            prop_oneof![
                Just("active"),
                Just("admin"),
                Just("gdprConsent"),
                Just("serviceAccount")
            ],
            prop_oneof![Just("eq"), Just("ne")],
            any::<bool>()
        )
            .prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        (
            prop_oneof![Just("meta.lastModified"), Just("meta.created")],
            prop_oneof![
                Just("eq"),
                Just("ne"),
                Just("gt"),
                Just("ge"),
                Just("lt"),
                Just("le")
            ],
            time_literal()
        )
            .prop_map(|(a, o, t)| format!("{a} {o} {t}")),
        (
            prop_oneof![Just("co"), Just("sw"), Just("ew"), Just("eq")],
            word(2)
        )
            .prop_map(|(o, w)| format!(
                "emails[type eq \"work\" and value {o} {}]",
                serde_json::Value::String(w)
            )),
        (prop_oneof![Just("co"), Just("sw"), Just("ne")], word(2))
            .prop_map(|(o, w)| format!("groups[display {o} {}]", serde_json::Value::String(w))),
    ]
}

fn group_leaf(member_ids: Vec<String>) -> impl Strategy<Value = String> {
    let ids = if member_ids.is_empty() {
        vec!["none".to_owned()]
    } else {
        member_ids
    };
    let op = prop_oneof![
        Just("eq"),
        Just("ne"),
        Just("co"),
        Just("sw"),
        Just("ew"),
        Just("gt"),
        Just("le")
    ];
    let lit = prop_oneof![word(3), Just("ga".to_owned()), Just("GB%".to_owned())]
        .prop_map(|w| serde_json::Value::String(w).to_string());
    prop_oneof![
        (
            prop_oneof![Just("displayName"), Just("externalId"), Just("id")],
            op,
            lit
        )
            .prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        proptest::sample::select(ids.clone()).prop_map(|id| format!("members.value eq \"{id}\"")),
        proptest::sample::select(ids).prop_map(|id| format!("members[value eq \"{id}\"]")),
        prop_oneof![
            Just("members pr"),
            Just("externalId pr"),
            Just("displayName pr")
        ]
        .prop_map(str::to_owned),
        (prop_oneof![Just("gt"), Just("lt")], time_literal())
            .prop_map(|(o, t)| format!("meta.lastModified {o} {t}")),
    ]
}

fn combine(leaf: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = String> {
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

async fn seed(
    app: &dsg_testkit::TestApp,
    users: &[UserSpec],
    groups: &[(String, Vec<usize>)],
) -> Vec<String> {
    let mut tx = app.store.begin(Actor::cli("proptest")).await.unwrap();
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    let mut internal = Vec::new();
    for u in users {
        let user_name = format!("{}@{}", u.local, u.domain);
        if !seen.insert(user_name.to_ascii_lowercase()) {
            continue;
        }
        let f = UserFields {
            user_name,
            given_name: u.given.clone(),
            family_name: u.family.clone(),
            formatted: String::new(),
            display_name: u.display.clone(),
            active: u.active,
            external_id: u
                .external
                .clone()
                .filter(|x| seen.insert(format!("ext:{x}"))),
            admin: u.admin,
            pi: u.pi.clone(),
            gdpr_consent: u.gdpr,
        };
        let id = tx.scim_create_user(&f).await.unwrap();
        internal.push((id, u.age));
    }
    tx.commit().await.unwrap();
    // scim ids in insertion order.
    let base = "http://t/auth/scim/v2";
    for (id, _) in &internal {
        let v = app
            .store
            .scim_get_internal(Kind::User, *id, base)
            .await
            .unwrap()
            .unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let mut tx = app.store.begin(Actor::cli("proptest")).await.unwrap();
    for (name, members) in groups {
        let members: Vec<String> = members
            .iter()
            .filter_map(|i| ids.get(*i).cloned())
            .collect();
        tx.scim_create_group(&GroupFields {
            display_name: name.clone(),
            external_id: None,
            members,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Spread lastModified / created over a few seconds.
    for (id, age) in &internal {
        let t = EPOCH + age * STEP;
        let sql = "UPDATE dsg_user SET updated = $1, created = $2 WHERE id = $3";
        match app.store.db() {
            dsg_store::Db::Sqlite(p) => {
                sqlx::query(sql)
                    .bind(t)
                    .bind(t - STEP)
                    .bind(*id)
                    .execute(p)
                    .await
                    .unwrap();
            }
            dsg_store::Db::Postgres(p) => {
                sqlx::query(sql)
                    .bind(t)
                    .bind(t - STEP)
                    .bind(*id)
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
    }
    ids
}

async fn sql_matches_memory(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 1,
        ..Config::default()
    });
    let world = (
        proptest::collection::vec(user(), 4..14),
        proptest::collection::vec(proptest::collection::vec(0usize..14, 1..5), 3..4),
    );
    let (users, memberships) = world.new_tree(&mut runner).unwrap().current();
    let groups: Vec<(String, Vec<usize>)> = memberships
        .into_iter()
        .enumerate()
        .map(|(i, m)| (["gA", "ga_b", "Gb%"][i % 3].to_owned(), m))
        .collect();
    let user_ids = seed(&app, &users, &groups).await;
    let base = "http://t/auth/scim/v2";
    let everyone = ScimQuery::build(app.store.backend(), Kind::User, None, None).unwrap();
    let all = app
        .store
        .scim_list(&everyone, 0, 1000, base)
        .await
        .unwrap()
        .resources;
    assert!(!all.is_empty());

    check(&app, Kind::User, &all, filter(), 300, 30);
    let everyone = ScimQuery::build(app.store.backend(), Kind::Group, None, None).unwrap();
    let groups_all = app
        .store
        .scim_list(&everyone, 0, 1000, base)
        .await
        .unwrap()
        .resources;
    assert!(!groups_all.is_empty());
    check(
        &app,
        Kind::Group,
        &groups_all,
        combine(group_leaf(user_ids)),
        150,
        1,
    );
    app.shutdown().await;
}
both_backends!(
    scim_filters_in_sql_match_in_memory_evaluation,
    super::sql_matches_memory
);

/// Runs `cases` random filters of `kind` and compares SQL with memory.
fn check(
    app: &dsg_testkit::TestApp,
    kind: Kind,
    all: &[serde_json::Value],
    strategy: impl Strategy<Value = String>,
    cases: u32,
    min_discriminating: usize,
) {
    let base = "http://t/auth/scim/v2";
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let store = app.store.clone();
    let backend_kind = app.store.backend();
    // How many filters selected some but not all users (the property must not be vacuous).
    let discriminating = std::cell::Cell::new(0usize);
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |text| {
            let cond = bind_filter(kind, &text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let want: BTreeSet<String> = all
                .iter()
                .filter(|u| cond.matches(u))
                .map(|u| u["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            let query = ScimQuery::build(backend_kind, kind, Some(&cond), None)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let page = handle
                .block_on(store.scim_list(&query, 0, 1000, base))
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let got: BTreeSet<String> = page
                .resources
                .iter()
                .map(|u| u["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            if !want.is_empty() && want.len() < all.len() {
                discriminating.set(discriminating.get() + 1);
            }
            prop_assert_eq!(usize::try_from(page.total).unwrap_or(0), got.len());
            prop_assert_eq!(&got, &want, "filter {}", text);
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        discriminating.get() >= min_discriminating,
        "only {} discriminating filters",
        discriminating.get()
    );
}
