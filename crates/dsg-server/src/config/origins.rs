//! Which web origins may use the ngauth endpoints (`/token`, `/gcs_token`,
//! `/login?origin=`): one rule for all three.
//!
//! An origin must first pass a strict syntax check (scheme `http`/`https`,
//! a host of letters, digits, `-` and `.` with no empty label, an optional
//! port 1–65535, nothing else). It is then allowed when it equals an entry of
//! `[ngauth] allowed_origins` exactly, or when the whole string matches
//! `allowed_origins_regex` (`NGAUTH_ALLOWED_ORIGINS`), which is always
//! anchored here as `^(?:…)$` — an unanchored pattern would otherwise let
//! `https://allowed.org.evil.com` through.

use regex::Regex;

use crate::config::NgauthConfig;

/// The configured allow-list.
#[derive(Debug, Clone)]
pub struct AllowedOrigins {
    exact: Vec<String>,
    pattern: Option<Regex>,
}

/// An `Origin` value failed the syntax check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin")]
pub struct InvalidOrigin;

/// Checks the syntax of an origin (`scheme://host[:port]`, nothing more).
///
/// # Errors
/// [`InvalidOrigin`] for anything else: paths, queries, user info, bad
/// ports, empty or trailing-dot hosts, whitespace, upper-case schemes.
pub fn parse(origin: &str) -> Result<&str, InvalidOrigin> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or(InvalidOrigin)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if host.is_empty()
        || host.len() > 253
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || host.split('.').any(str::is_empty)
    {
        return Err(InvalidOrigin);
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !ok {
            return Err(InvalidOrigin);
        }
    }
    Ok(origin)
}

impl AllowedOrigins {
    /// Builds the allow-list from configuration.
    ///
    /// # Errors
    /// A list entry that is not a bare origin, or an invalid regex, phrased as
    /// what to fix.
    pub fn from_config(config: &NgauthConfig) -> Result<Self, String> {
        let mut exact = Vec::new();
        for o in &config.allowed_origins {
            let o = o.trim().trim_end_matches('/');
            if parse(o).is_err() {
                return Err(format!(
                    "ngauth.allowed_origins entry {o:?} must be scheme://host[:port], e.g. https://neuroglancer-demo.appspot.com"
                ));
            }
            exact.push(o.to_owned());
        }
        let pattern = if config.allowed_origins_regex.is_empty() {
            None
        } else {
            let anchored = format!("^(?:{})$", config.allowed_origins_regex);
            Some(Regex::new(&anchored).map_err(|e| {
                format!(
                    "ngauth.allowed_origins_regex (NGAUTH_ALLOWED_ORIGINS) is not a valid regex: {e}"
                )
            })?)
        };
        Ok(Self { exact, pattern })
    }

    /// True when a syntactically valid origin is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        parse(origin).is_ok()
            && (self.exact.iter().any(|o| o == origin)
                || self.pattern.as_ref().is_some_and(|p| p.is_match(origin)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(exact: &[&str], regex: &str) -> AllowedOrigins {
        AllowedOrigins::from_config(&NgauthConfig {
            allowed_origins: exact.iter().map(|s| s.to_string()).collect(),
            allowed_origins_regex: regex.into(),
        })
        .unwrap()
    }

    #[test]
    fn syntax_is_strict() {
        for ok in [
            "https://a.org",
            "http://localhost:8080",
            "http://127.0.0.1:1",
            "https://x-y.z.org:65535",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "null",
            "ftp://a.org",
            "HTTPS://a.org",
            "https://",
            "https://a.org/",
            "https://a.org/x",
            "https://a.org?x",
            "https://u@a.org",
            "https://a.org:0",
            "https://a.org:65536",
            "https://a.org:",
            "https://a.org.",
            "https://a..org",
            "https://a.org ",
            " https://a.org",
            "https://a_b.org",
            "https://[::1]:80",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exact_entries_match_exactly() {
        let l = list(&["https://ng.example.org", "http://localhost:8080/"], "");
        assert!(l.allows("https://ng.example.org"));
        assert!(l.allows("http://localhost:8080"));
        assert!(!l.allows("http://ng.example.org"));
        assert!(!l.allows("https://ng.example.org.evil.com"));
        assert!(!l.allows("https://ng.example.org:443"));
    }

    #[test]
    fn regex_is_anchored_at_both_ends() {
        let l = list(&[], r"https://allowed\.org");
        assert!(l.allows("https://allowed.org"));
        assert!(!l.allows("https://allowed.org.evil.com"));
        assert!(!l.allows("https://evil.com?https://allowed.org"));
        let l = list(&[], r"^https?://.*\.neuroglancer\.org$");
        assert!(l.allows("https://demo.neuroglancer.org"));
        assert!(!l.allows("https://demo.neuroglancer.org.evil.com"));
        assert!(!l.allows("https://neuroglancer.org"));
    }

    #[test]
    fn bad_entries_are_refused_with_a_fix() {
        let e = AllowedOrigins::from_config(&NgauthConfig {
            allowed_origins: vec!["https://a.org/path".into()],
            allowed_origins_regex: String::new(),
        })
        .unwrap_err();
        assert!(e.contains("scheme://host"), "{e}");
    }
}
