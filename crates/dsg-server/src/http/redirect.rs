//! Where a login may send the browser afterwards: a path on this server, this
//! server's own origin, or a configured host. Everything else is refused —
//! the original had three open redirects.

use dsg_core::redirect::is_local_path;
use url::Url;

use crate::state::AppState;

/// `next` when it leads back to this server or a configured host
/// (`login.redirect_hosts`), else `None` (also for an empty `next`).
pub fn safe_next(state: &AppState, next: &str) -> Option<String> {
    if next.is_empty() {
        return None;
    }
    validate(
        next,
        &state.config.server.origin,
        &state.config.redirect_hosts(),
    )
}

/// Where `/api/v1/logout?redirect=` sends the browser (spec 8.3): the URL
/// itself when it is absolute `http(s)` on this server or a
/// `login.redirect_hosts` host, else this server's root `/` — never a
/// relative, scheme-relative or other target.
pub fn logout_target(state: &AppState, headers: &axum::http::HeaderMap, next: &str) -> String {
    if next.starts_with('/') || next.contains('\\') || next.chars().any(char::is_control) {
        return "/".into();
    }
    let own = crate::http::origin::public_origin(state, headers).unwrap_or_default();
    validate(next, &own, &state.config.redirect_hosts()).unwrap_or_else(|| "/".into())
}

/// Where the terms-of-service service-check page may return the browser
/// (dsg-native-v1 §5.3): a path on this server, or an absolute `http(s)` URL
/// whose origin is exactly this server's, one of `tos.return_allowed_origins`,
/// or one the ngauth allow-list accepts — or a target the login flow itself
/// may redirect to ([`safe_next`]: the login entry passes its validated
/// `redirect` through this page). Query and fragment are kept as sent.
pub fn tos_return(state: &AppState, next: &str) -> Option<String> {
    if next.is_empty() {
        return None;
    }
    if is_local_path(next) {
        return Some(next.to_owned());
    }
    let (_, origin) = absolute(next)?;
    let c = &state.config;
    let allowed = origin == c.server.origin.trim_end_matches('/')
        || c.tos.return_allowed_origins.contains(&origin)
        || state.ngauth_origins.allows(&origin);
    if allowed {
        Some(next.to_owned())
    } else {
        safe_next(state, next)
    }
}

/// Validates `next` against our origin and the allowed hosts; returns the
/// target to redirect to.
///
/// `allowed` entries are host names (https only), `.domain` for that domain
/// and every host under it (https only), or full origins (exact match).
pub fn validate(next: &str, own_origin: &str, allowed: &[String]) -> Option<String> {
    if is_local_path(next) {
        return Some(next.to_owned());
    }
    let (url, origin) = absolute(next)?;
    if origin == own_origin.trim_end_matches('/') {
        return Some(url.into());
    }
    let host = url.host_str()?;
    let ok = allowed.iter().any(|a| {
        if a.contains("://") {
            a.trim_end_matches('/') == origin
        } else if let Some(domain) = a.strip_prefix('.') {
            url.scheme() == "https"
                && (host.eq_ignore_ascii_case(domain)
                    || host.len() > domain.len() + 1
                        && host
                            .to_ascii_lowercase()
                            .ends_with(&format!(".{}", domain.to_ascii_lowercase())))
        } else {
            a.eq_ignore_ascii_case(host) && url.scheme() == "https"
        }
    });
    ok.then(|| url.into())
}

/// An absolute `http(s)` URL without user-info, with its serialized origin.
fn absolute(next: &str) -> Option<(Url, String)> {
    let url = Url::parse(next).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    Some((url, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_origin_and_allowed_hosts() {
        let allowed = vec![
            "ng.example.org".to_owned(),
            "http://localhost:8080".to_owned(),
        ];
        let o = "https://dsg.example.org";
        assert_eq!(
            validate("/web/x?a=1", o, &allowed).as_deref(),
            Some("/web/x?a=1")
        );
        assert!(validate("https://dsg.example.org/web", o, &allowed).is_some());
        assert!(validate("https://ng.example.org/#!x", o, &allowed).is_some());
        assert!(validate("http://localhost:8080/", o, &allowed).is_some());
        for bad in [
            "//evil.org/x",
            "/\\evil.org",
            "https://evil.org/",
            "https://dsg.example.org.evil.org/",
            "http://ng.example.org/",
            "javascript:alert(1)",
            "/caf\u{e9}",
            "/a b",
            "https://user@ng.example.org/",
            "",
        ] {
            assert!(validate(bad, o, &allowed).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_leading_dot_allows_the_domain_and_every_host_under_it() {
        let allowed = vec![".example.org".to_owned()];
        let o = "https://dsg.example.org";
        for good in [
            "https://example.org/",
            "https://cave.example.org/x?y=1",
            "https://a.b.Example.ORG/",
        ] {
            assert!(validate(good, o, &allowed).is_some(), "{good}");
        }
        for bad in [
            "http://cave.example.org/",
            "https://evilexample.org/",
            "https://example.org.evil.net/",
            "https://.example.org/",
        ] {
            assert!(validate(bad, o, &allowed).is_none(), "{bad}");
        }
    }
}
