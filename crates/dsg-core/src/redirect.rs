//! Which redirect targets are paths on this server: the pure half of the
//! redirect rules (the server adds its own origin and the allowed hosts).

/// True for `/path…` that a browser resolves on this server (not `//host`
/// or `/\host`, which browsers treat as another host).
pub fn is_local_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.starts_with("//")
        && !s.starts_with("/\\")
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn local_paths_are_single_slash_printable_ascii() {
        assert!(is_local_path("/web/x?a=1"));
        for bad in [
            "//evil.org",
            "/\\evil.org",
            "https://x/",
            "/a b",
            "/caf\u{e9}",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }
}
