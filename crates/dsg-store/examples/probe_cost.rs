//! Measures the SQLite change probe's cost per call (run with --release).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use dsg_store::{DatabaseTarget, PoolSettings, Store, probe::ChangeProbe};

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.sqlite3");
    let store = Store::open(
        &DatabaseTarget::Sqlite(path.clone()),
        &PoolSettings::default(),
    )
    .await
    .unwrap();
    let probe = ChangeProbe::new(store.quick_reads().unwrap());
    probe.latest_seq().unwrap();
    let n = 200_000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(probe.latest_seq().unwrap());
    }
    println!(
        "probe (fast path, nothing committed): {:.2} us/call",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(probe.read_exact().unwrap());
    }
    println!(
        "probe (exact read): {:.2} us/call",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let wal = path.with_extension("sqlite3-wal");
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(std::fs::metadata(&wal).unwrap().len());
    }
    println!(
        "stat:  {:.2} us/call",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
