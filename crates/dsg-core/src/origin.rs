//! Exact web origins (`scheme://host[:port]`, as a browser serializes them
//! in `Origin` headers and `postMessage` targets): what a registered web
//! client is identified by, compared byte for byte.

/// True when `value` is a serialized `http`/`https` origin exactly as a
/// browser writes it: lower-case scheme and host, no user-info, path,
/// query, fragment or trailing slash, and a port only when it is not the
/// scheme's default (written without leading zeros).
pub fn is_exact(value: &str) -> bool {
    let (rest, default_port) = if let Some(r) = value.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = value.strip_prefix("http://") {
        (r, 80)
    } else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !host.split('.').any(str::is_empty);
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && !p.starts_with('0')
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>()
                .is_ok_and(|n| (1..=65535).contains(&n) && n != default_port)
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_browser_serialized_origins_are_exact() {
        for ok in [
            "https://coda.example.org",
            "http://127.0.0.1:8080",
            "https://navis-org.github.io",
            "http://localhost:3000",
            "https://xn--bcher-kva.example",
        ] {
            assert!(is_exact(ok), "{ok}");
        }
        for bad in [
            "",
            "coda.example.org",
            "https://",
            "https://coda.example.org/",
            "https://coda.example.org/app",
            "https://coda.example.org?x=1",
            "https://coda.example.org#f",
            "https://user@coda.example.org",
            "https://Coda.example.org",
            "HTTPS://coda.example.org",
            "https://coda.example.org:443",
            "http://coda.example.org:80",
            "https://coda.example.org:0443",
            "https://coda.example.org:70000",
            "https://coda.example.org.",
            "https://coda..org",
            "javascript:alert(1)",
            "ftp://coda.example.org",
            "https://[::1]",
            " https://coda.example.org",
        ] {
            assert!(!is_exact(bad), "{bad}");
        }
    }
}
