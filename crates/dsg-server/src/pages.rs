//! Server-rendered HTML pages (askama templates under `templates/`, escaped
//! by default). Front-ends that answer browsers render through these.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// A page with a title and a short message, e.g. a landing or error page.
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    /// `<title>` and heading.
    pub title: &'a str,
    /// Body text.
    pub message: &'a str,
}

/// An error page for a browser: what went wrong and where to go next.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// `<title>` and heading.
    pub title: &'a str,
    /// What happened, in words.
    pub message: &'a str,
    /// Ways forward: (label, link).
    pub links: &'a [(&'a str, &'a str)],
}

impl ErrorPage<'_> {
    /// The page with `status`, not cached.
    pub fn respond(&self, status: StatusCode) -> Response {
        let body = self.render().unwrap_or_else(|_| self.message.to_owned());
        let mut r = (status, Html(body)).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// Whether the client asked for HTML first (a browser navigating), rather
/// than JSON (an API client, `curl`, a script).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next()
        .is_some_and(|first| {
            let m = first.split(';').next().unwrap_or("").trim();
            m.eq_ignore_ascii_case("text/html") || m.eq_ignore_ascii_case("application/xhtml+xml")
        })
}

#[cfg(test)]
mod tests {
    use askama::Template;

    #[test]
    fn message_page_escapes() {
        let html = super::MessagePage {
            title: "Hi",
            message: "<script>",
        }
        .render()
        .unwrap_or_default();
        assert!(html.contains("script") && html.contains("<title>Hi"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn browsers_get_html_and_scripts_json() {
        let h = |accept: &str| {
            let mut m = axum::http::HeaderMap::new();
            m.insert(
                axum::http::header::ACCEPT,
                axum::http::HeaderValue::from_str(accept).unwrap_or_else(|_| unreachable!()),
            );
            super::wants_html(&m)
        };
        assert!(h(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!h("application/json"));
        assert!(!h("*/*"));
        assert!(!super::wants_html(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn error_page_offers_a_way_forward() {
        let html = super::ErrorPage {
            title: "Login failed",
            message: "Your e-mail <b>",
            links: &[("Try again", "/auth/login")],
        }
        .render()
        .unwrap_or_default();
        assert!(html.contains(r#"<a href="/auth/login">Try again</a>"#));
        assert!(!html.contains("<b>"));
    }
}
