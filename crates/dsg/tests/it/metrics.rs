//! `GET /metrics`: OpenMetrics text with request, cache, pool and login
//! figures; optionally behind a bearer token; off when disabled.

use dsg_testkit::{Backend, spawn_app, spawn_app_with, user_token};
use serde_json::json;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
}

async fn metrics_count_requests_cache_use_and_pool(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({"users": [{"key": "a", "email": "a@x.org", "tokens": [{"key": "t"}]}]}))
        .await
        .unwrap();
    let t = user_token(&s, "a", "t");
    for _ in 0..3 {
        assert_eq!(app.user_cache(&t).await.unwrap().0, 200);
    }
    assert_eq!(app.user_cache("nope").await.unwrap().0, 401);
    assert_eq!(app.get("/no/such/path", None).await.unwrap().status(), 404);
    let r = app.get("/metrics", None).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let ok = r#"dsg_http_requests_total{route="/api/v1/user/cache",method="GET",status="200"}"#;
    assert_eq!(value(&text, ok), Some(3.0), "{text}");
    let bad = r#"dsg_http_requests_total{route="/api/v1/user/cache",method="GET",status="401"}"#;
    assert_eq!(value(&text, bad), Some(1.0), "{text}");
    // Unknown paths share one label value (the label set stays bounded).
    let unmatched = r#"dsg_http_requests_total{route="unmatched",method="GET",status="404"}"#;
    assert_eq!(value(&text, unmatched), Some(1.0), "{text}");
    assert!(!text.contains("/no/such/path"));
    let count = r#"dsg_http_request_duration_seconds_count{route="/api/v1/user/cache"}"#;
    assert_eq!(value(&text, count), Some(4.0), "{text}");
    // The first use of the token missed the cache, the next two hit it.
    assert!(
        value(&text, "dsg_cache_document_hits_total").unwrap() >= 2.0,
        "{text}"
    );
    assert!(value(&text, "dsg_cache_document_misses_total").unwrap() >= 1.0);
    assert!(value(&text, "dsg_cache_token_hits_total").unwrap() >= 2.0);
    assert!(
        value(&text, "dsg_cache_invalidations_total").unwrap() >= 1.0,
        "the seed invalidated"
    );
    assert!(value(&text, r#"dsg_db_pool_connections{state="idle"}"#).is_some());
    assert!(value(&text, "dsg_cache_tokens").unwrap() >= 1.0);
    app.shutdown().await;
}
both_backends!(
    metrics_count_requests_cache_use_and_pool,
    super::metrics_count_requests_cache_use_and_pool
);

async fn metrics_token_and_switch(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.metrics.bearer_token = "scrape-secret".into())
        .await
        .unwrap();
    assert_eq!(app.get("/metrics", None).await.unwrap().status(), 401);
    assert_eq!(
        app.get("/metrics", Some("wrong")).await.unwrap().status(),
        401
    );
    assert_eq!(
        app.get("/metrics", Some("scrape-secret"))
            .await
            .unwrap()
            .status(),
        200
    );
    app.shutdown().await;
    let app = spawn_app_with(backend, |c| c.metrics.enabled = false)
        .await
        .unwrap();
    assert_eq!(app.get("/metrics", None).await.unwrap().status(), 404);
    app.shutdown().await;
}
both_backends!(metrics_token_and_switch, super::metrics_token_and_switch);
