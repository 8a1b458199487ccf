//! Several replicas on one PostgreSQL database: changes cross over through
//! `NOTIFY` or Redis within a second, and a replica restarted under load
//! (drain, stop, start) fails no request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dsg_testkit::cli::{Proc, StopAll};
use dsg_testkit::{Backend, TestApp, eventually, spawn_app_with, user_token};
use serde_json::{Value, json};

fn world() -> Value {
    json!({
        "datasets": [{"name": "fish2"}],
        "users": [{"key": "a", "email": "a@example.org",
                   "tokens": [{"key": "one", "description": "OAuth login token"}, {"key": "two", "description": "OAuth login token"},
                              {"key": "three", "description": "OAuth login token"}]}],
        "grants": [{"user": "a", "dataset": "fish2", "permission": "view"}]
    })
}

/// Revokes `token` (a login token) through `replica`'s logout.
async fn revoke_through(replica: &TestApp, token: &str) {
    let r = reqwest::Client::new()
        .get(replica.url("/api/v1/logout"))
        .header("Cookie", format!("dsg_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A revoke on A answers 401 on B within a second, carried only by the
/// doorbell under test (the outbox poll is set to a minute).
async fn revoke_crosses_over(
    tweak: fn(&mut dsg_server::Config),
    doorbell: &str,
) -> (TestApp, TestApp) {
    let a = spawn_app_with(Backend::Postgres, tweak).await.unwrap();
    let b = a.spawn_replica(tweak).await.unwrap();
    for app in [&a, &b] {
        let up = eventually(Duration::from_secs(10), || async {
            let (status, body) = app.readyz().await.unwrap();
            status == 200 && body["checks"]["cache_feed"][doorbell] == "connected"
        })
        .await;
        assert!(up, "{:?}", app.readyz().await.unwrap());
    }
    let s = a.seed(world()).await.unwrap();
    let one = user_token(&s, "a", "one");
    assert_eq!(b.user_cache(&one).await.unwrap().0, 200);
    revoke_through(&a, &one).await;
    let gone = eventually(Duration::from_secs(1), || async {
        b.user_cache(&one).await.unwrap().0 == 401
    })
    .await;
    assert!(
        gone,
        "the revoke on A must answer 401 on B within 1 s ({doorbell})"
    );
    (a, b)
}

fn slow_poll(c: &mut dsg_server::Config) {
    c.cache.poll_interval_ms = 60_000;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notify_carries_a_revoke_to_the_other_replica() {
    let (a, b) = revoke_crosses_over(slow_poll, "postgres_listen").await;
    b.shutdown().await;
    a.shutdown().await;
}

/// Without `LISTEN` (as behind PgBouncer in transaction mode), Redis
/// pub/sub carries changes; after its subscription is cut it reconnects
/// (flushing the cache) and carries them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_carries_a_revoke_when_listen_is_off_and_survives_a_cut() {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(dsg_testkit::unique_redis_prefix);
    fn tweak(c: &mut dsg_server::Config) {
        slow_poll(c);
        c.cache.postgres_listen = false;
        c.redis.url = dsg_testkit::redis_url();
        c.redis.key_prefix = PREFIX.get().unwrap().clone();
    }
    let (a, b) = revoke_crosses_over(tweak, "redis_subscription").await;
    assert_eq!(
        b.readyz().await.unwrap().1["checks"]["cache_feed"]["postgres_listen"],
        "disabled"
    );

    // Cut every pub/sub connection; B resubscribes and keeps up.
    let client = redis::Client::open(dsg_testkit::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    let s = a
        .seed(json!({"users": [{"key": "c", "email": "c@example.org",
        "tokens": [{"key": "t", "description": "OAuth login token"}]}]}))
        .await
        .unwrap();
    let t = user_token(&s, "c", "t");
    assert_eq!(b.user_cache(&t).await.unwrap().0, 200);
    let back = eventually(Duration::from_secs(10), || async {
        b.readyz().await.unwrap().1["checks"]["cache_feed"]["redis_subscription"] == "connected"
    })
    .await;
    assert!(back);
    revoke_through(&a, &t).await;
    let gone = eventually(Duration::from_secs(3), || async {
        b.user_cache(&t).await.unwrap().0 == 401
    })
    .await;
    assert!(gone, "after resubscribing, Redis carries revokes again");
    b.shutdown().await;
    a.shutdown().await;
}

// ---- a rolling restart of real `dsg serve` processes under load ----

/// Two `dsg serve` processes start at once on an empty database (one
/// migrates, the other waits on the lock). Under steady load, with clients
/// routing by `/readyz` as a load balancer would, replica B is stopped
/// (`drain_secs = 1`: readiness drops, then the listener closes, in-flight
/// requests finish) and started again: not one request fails, and both
/// replicas served traffic before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_restarted_under_load_fails_no_request() {
    dsg_server::outbound::install_crypto_provider();
    let tmp = tempfile::tempdir().unwrap();
    let (url, schema) = dsg_testkit::empty_database(Backend::Postgres, tmp.path())
        .await
        .unwrap();
    let ports = [dsg_testkit::free_port(), dsg_testkit::free_port()];
    let procs: Vec<Arc<Proc>> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let dir = tmp.path().join(format!("r{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            Arc::new(Proc {
                dir,
                env: vec![
                    ("DATABASE_URL".into(), url.clone()),
                    ("DSG_SERVER__BIND".into(), format!("127.0.0.1:{port}")),
                    ("DSG_SERVER__DRAIN_SECS".into(), "1".into()),
                    ("DSG_CACHE__POLL_INTERVAL_MS".into(), "60000".into()),
                ],
            })
        })
        .collect();
    let start = |p: Arc<Proc>| {
        std::thread::spawn(move || {
            let (ok, out, err) = p.dsg(&["serve", "--detach"], None);
            assert!(ok, "{out}{err}");
        })
    };
    let stop_all = StopAll(procs.clone());
    let starting: Vec<_> = procs.iter().cloned().map(start).collect();
    for s in starting {
        s.join().unwrap();
    }
    let (ok, out, err) = procs[0].dsg(&["seed", "-"], Some(&world().to_string()));
    assert!(ok, "{err}");
    let seeded: Value = serde_json::from_str(&out).unwrap();
    let token = user_token(&seeded, "a", "one");
    let bases: Arc<Vec<String>> = Arc::new(
        ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect(),
    );

    // Readiness, as a balancer's health check sees it, every 50 ms.
    let ready: Arc<[AtomicBool; 2]> = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let stop = Arc::new(AtomicBool::new(false));
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let checker = {
        let (ready, stop, bases, probe) =
            (ready.clone(), stop.clone(), bases.clone(), probe.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                for (i, base) in bases.iter().enumerate() {
                    let ok = probe
                        .get(format!("{base}/readyz"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200);
                    ready[i].store(ok, Ordering::Release);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let both_ready = eventually(Duration::from_secs(20), || async {
        ready[0].load(Ordering::Acquire) && ready[1].load(Ordering::Acquire)
    })
    .await;
    assert!(both_ready, "both replicas ready");

    // Steady load: four clients, round robin over the ready replicas.
    let served: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let failures = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (ready, stop, bases, served, failures, client, token) = (
                ready.clone(),
                stop.clone(),
                bases.clone(),
                served.clone(),
                failures.clone(),
                client.clone(),
                token.clone(),
            );
            tokio::spawn(async move {
                let mut n = w;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let i = n % 2;
                    let i = if ready[i].load(Ordering::Acquire) {
                        i
                    } else {
                        1 - i
                    };
                    if !ready[i].load(Ordering::Acquire) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    let r = client
                        .get(format!("{}/api/v1/user/cache", bases[i]))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            served[i].fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.lock().push(format!("replica {i}: {}", r.status())),
                        Err(e) => failures.lock().push(format!("replica {i}: {e}")),
                    }
                }
            })
        })
        .collect();
    let count = |i: usize| served[i].load(Ordering::Relaxed);
    assert!(
        eventually(Duration::from_secs(10), || async {
            count(0) > 50 && count(1) > 50
        })
        .await
    );

    // Restart B: drain + stop, then start again on the same port.
    let b = procs[1].clone();
    let stopping =
        tokio::task::spawn_blocking(move || b.dsg(&["stop", "--pid-file", "serve.pid"], None));
    // While it drains it still answers, saying so, and closes connections.
    let draining = eventually(Duration::from_secs(2), || async {
        match probe.get(format!("{}/readyz", bases[1])).send().await {
            Ok(r) => {
                let closes = r.headers().get("connection").is_some_and(|v| v == "close");
                r.status() == 503
                    && closes
                    && r.json::<Value>()
                        .await
                        .is_ok_and(|b| b["status"] == "draining")
            }
            Err(_) => false,
        }
    })
    .await;
    assert!(draining, "readyz answers 503 draining during the drain");
    let stopped = stopping.await.unwrap();
    assert!(stopped.0 && stopped.1.contains("stopped"), "{stopped:?}");
    let before = count(1);
    start(procs[1].clone()).join().unwrap();
    let resumed = eventually(Duration::from_secs(20), || async { count(1) > before + 50 }).await;
    assert!(resumed, "the restarted replica takes traffic again");
    stop.store(true, Ordering::Release);
    for w in workers {
        w.await.unwrap();
    }
    checker.await.unwrap();
    let failures = failures.lock().clone();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // A revoke through A answers 401 on B within a second (NOTIFY).
    let two = user_token(&seeded, "a", "two");
    let on_b = |t: String| {
        let (client, base) = (client.clone(), bases[1].clone());
        async move {
            client
                .get(format!("{base}/api/v1/user/cache"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(on_b(two.clone()).await, 200);
    let r = client
        .get(format!("{}/api/v1/logout", bases[0]))
        .header("Cookie", format!("dsg_token={two}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let gone = eventually(Duration::from_secs(1), || async {
        on_b(two.clone()).await == 401
    })
    .await;
    assert!(gone, "revoke on A seen on B within 1 s");

    drop(stop_all);
    let (base, schema) = schema.unwrap();
    dsg_testkit::drop_pg_schema(&base, &schema).await;
}
