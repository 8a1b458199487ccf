//! The web UI (`/web/…`) over HTTP as a visitor: a cookie jar with the
//! login cookie, no automatic redirects, forms posted with their CSRF token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use reqwest::cookie::Jar;

use crate::TestApp;

/// A browser signed in with a token (or anonymous): cookie jar, no redirects.
pub struct Visitor {
    /// The client (cookie jar, no redirects).
    pub client: reqwest::Client,
    base: String,
}

/// A page's answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Location` (empty without).
    pub location: String,
    /// Body text.
    pub body: String,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Visitor {
    /// Signed in with `token` (its login cookie), or anonymous.
    pub fn new(app: &TestApp, token: Option<&str>) -> Self {
        let jar = Arc::new(Jar::default());
        if let Some(t) = token {
            jar.add_cookie_str(
                &format!("dsg_token={t}; Path=/"),
                &app.address.parse().unwrap(),
            );
        }
        let client = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            client,
            base: app.address.clone(),
        }
    }

    async fn answer(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Answer {
            status,
            location,
            body: r.text().await.unwrap(),
            headers,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        Self::answer(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The CSRF token the page's forms carry (also sets the cookie).
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        csrf_of(&page.body)
    }

    /// Posts a form as a page of this server would (the visitor's CSRF
    /// token, same origin).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.csrf("/web/datasets").await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &csrf));
        self.post_raw(path, &form, Some(&self.base.clone())).await
    }

    /// Posts exactly these fields with this `Origin`.
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Answer {
        let mut r = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        Self::answer(r.send().await.unwrap()).await
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let i = html.find(key).expect("page has a CSRF field") + key.len();
    html[i..].split('"').next().unwrap().to_owned()
}
