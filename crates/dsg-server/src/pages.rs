//! Server-rendered HTML pages (askama templates under `templates/`, escaped
//! by default). Front-ends that answer browsers render through these.

use askama::Template;
use askama_web::WebTemplate;

/// A page with a title and a short message, e.g. a landing or error page.
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    /// `<title>` and heading.
    pub title: &'a str,
    /// Body text.
    pub message: &'a str,
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
}
