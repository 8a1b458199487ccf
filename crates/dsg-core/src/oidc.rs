//! Rules of DatasetGateway's OpenID Connect clients, shared by the API, the
//! CLI and seeds: the scopes a client may hold and what a registered
//! redirect URI looks like.

/// The scopes a client may be granted.
pub const SCOPES: [&str; 5] = ["openid", "email", "profile", "groups", "datasets"];

/// True for an absolute `http`/`https` URL with a host, without fragment,
/// user-info or whitespace (compared later character for character).
pub fn is_redirect_uri(value: &str) -> bool {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    !authority.is_empty()
        && !authority.contains('@')
        && !authority.starts_with(':')
        && !value.contains('#')
        && value.chars().all(|c| c.is_ascii_graphic())
}

/// The allowed scopes, sorted and unique (all five when none are named).
///
/// # Errors
/// The first unknown scope.
pub fn scopes(named: &[String]) -> Result<Vec<String>, String> {
    if named.is_empty() {
        return Ok(SCOPES.iter().map(|s| (*s).to_owned()).collect());
    }
    if let Some(bad) = named.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(format!("unknown scope {bad:?}: use {}", SCOPES.join(", ")));
    }
    let mut s = named.to_vec();
    s.sort();
    s.dedup();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_absolute_http_without_fragment() {
        for ok in [
            "https://wk.example.org/api/auth/oidc/callback",
            "http://127.0.0.1:9000/cb?x=1",
            "http://localhost:8000/hub/oauth_callback",
        ] {
            assert!(is_redirect_uri(ok), "{ok}");
        }
        for bad in [
            "",
            "/cb",
            "wk.example.org/cb",
            "https:///cb",
            "https://wk.example.org/cb#x",
            "https://user@wk.example.org/cb",
            "javascript:alert(1)",
            "https://wk.example.org/c b",
            "ftp://wk.example.org/cb",
        ] {
            assert!(!is_redirect_uri(bad), "{bad}");
        }
    }

    #[test]
    fn scopes_default_to_all_and_refuse_unknown_ones() {
        assert_eq!(scopes(&[]).unwrap().len(), 5);
        assert_eq!(
            scopes(&["openid".into(), "email".into(), "openid".into()]).unwrap(),
            ["email", "openid"]
        );
        assert!(scopes(&["admin".into()]).unwrap_err().contains("admin"));
    }
}
