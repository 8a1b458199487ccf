//! The admin console at `/admin/` over HTTP, as a browser with a login
//! cookie sees it (and the CSRF cookie once a page set it).

#![allow(clippy::unwrap_used)]

use crate::TestApp;

/// A browser with a login cookie (and the CSRF cookie once a page set it).
pub struct Console<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    token: Option<String>,
    /// The CSRF cookie's value (empty until a page set it).
    pub csrf: String,
}

impl<'a> Console<'a> {
    /// Signed in with `token` (anonymous without).
    pub fn new(app: &'a TestApp, token: Option<&str>) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            token: token.map(str::to_owned),
            csrf: String::new(),
        }
    }

    fn cookie(&self) -> String {
        let mut c = Vec::new();
        if let Some(t) = &self.token {
            c.push(format!("dsg_token={t}"));
        }
        if !self.csrf.is_empty() {
            c.push(format!("dsg_csrf={}", self.csrf));
        }
        c.join("; ")
    }

    /// `GET` → (status, `Location` if any, else the body); keeps a CSRF cookie the page sets.
    pub async fn get(&mut self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookie())
            .send()
            .await
            .unwrap();
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("dsg_csrf=") {
                self.csrf = rest.split(';').next().unwrap().to_owned();
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = r.text().await.unwrap();
        (status, location.unwrap_or(body))
    }

    /// Posts a form with the CSRF token (and the same-origin `Origin`).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        if self.csrf.is_empty() {
            self.get("/admin/").await;
        }
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let csrf = self.csrf.clone();
        fields.push(("csrf", &csrf));
        self.post_raw(path, &fields, Some(&self.app.address.clone()))
            .await
    }

    /// Posts exactly these fields with this `Origin`: (status, `Location` or body).
    pub async fn post_raw(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (u16, String) {
        let mut r = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookie())
            .form(form);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = r.text().await.unwrap();
        (status, location.unwrap_or(body))
    }
}
