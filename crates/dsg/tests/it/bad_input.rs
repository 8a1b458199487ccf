//! Bad input gets a clear 4xx JSON answer, never a 500.

use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::{Value, json};

async fn malformed_requests_get_json_4xx(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({"users": [{"key": "a", "email": "a@example.org", "tokens": [{"key": "t"}]}]}))
        .await
        .unwrap();
    let t = user_token(&s, "a", "t");
    let c = &app.client;
    let check = |r: reqwest::Response, status: u16| async move {
        assert_eq!(r.status().as_u16(), status, "{}", r.url());
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        r.json::<Value>().await.unwrap()
    };
    assert_eq!(
        check(app.get("/nope", None).await.unwrap(), 404).await,
        json!({"detail": "Not found."})
    );
    check(app.get("/api/v1/user/cache/", Some(&t)).await.unwrap(), 404).await;
    check(
        app.get("/api/v1/user/abc/permissions", Some(&t))
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(
        check(
            app.get("/api/v1/username?id=1,x", Some(&t)).await.unwrap(),
            400
        )
        .await,
        json!({"error": "Invalid user IDs"})
    );
    // Authentication before method: anonymous GET create_token is 401, authenticated is 405.
    check(
        c.get(app.url("/api/v1/create_token")).send().await.unwrap(),
        401,
    )
    .await;
    assert_eq!(
        check(
            c.get(app.url("/api/v1/create_token"))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap(),
            405
        )
        .await,
        json!({"detail": "Method \"GET\" not allowed."})
    );
    let body = check(
        c.post(app.url("/api/v1/create_token"))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error")
    );
    check(
        c.post(app.url("/api/v1/create_token"))
            .bearer_auth(&t)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("a=b")
            .send()
            .await
            .unwrap(),
        415,
    )
    .await;
    check(
        c.post(app.url("/api/v1/table/t/root_all_public"))
            .header("content-type", "application/json")
            .body("{\"a\":1}")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    check(
        c.get(app.url("/api/v1/user/cache"))
            .bearer_auth(&t)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap(),
        406,
    )
    .await;
    check(
        c.get(app.url("/api/v1/user/cache"))
            .bearer_auth("x".repeat(10_000))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    check(
        c.get(app.url("/api/v1/user/cache"))
            .header("authorization", b"Bearer \xff\xfe".as_slice())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    check(
        c.get(app.url("/api/v1/table/t/root/-5/is_public"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    app.shutdown().await;
}
both_backends!(
    malformed_requests_get_json_4xx,
    super::malformed_requests_get_json_4xx
);
