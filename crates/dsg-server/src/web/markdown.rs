//! Terms-of-service text: Markdown (tables, fenced code, footnotes,
//! strikethrough, newlines as line breaks) rendered to HTML and then
//! sanitised with ammonia, so a document can never carry script, event
//! handlers or `javascript:` links into a page (spec §18).

use pulldown_cmark::{Event, Options, Parser};

/// Safe HTML for a Markdown text.
pub fn render(text: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_FOOTNOTES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let events = Parser::new_ext(text, options).map(|e| match e {
        Event::SoftBreak => Event::HardBreak,
        e => e,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::clean(&html)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_is_rendered_and_sanitised() {
        let html = render(
            "# Terms\nline one\nline two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Terms</h1>"), "{html}");
        assert!(html.contains("line one<br>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }
}
