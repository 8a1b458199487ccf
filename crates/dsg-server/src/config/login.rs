//! Configuration of browser login (`[login]`, `[[login.providers]]`, the
//! Google endpoints in `[google]`) and of JWT bearer issuers (`[auth]` and
//! `[[auth.issuers]]`), with the checks that refuse a bad setting at start.

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};
use jsonwebtoken::Algorithm;

/// `[login]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Who may get an account at first login: `anyone`, `domains` (the
    /// e-mail domains in `signup_domains`) or `existing` (only users created
    /// beforehand by an admin, SCIM or an invitation).
    pub signup: Signup,
    /// E-mail domains allowed to sign up when `signup = "domains"`.
    pub signup_domains: Vec<String>,
    /// Hosts (or `scheme://host[:port]` origins) besides this server that
    /// `next` / `redirect` may point to.
    pub redirect_hosts: Vec<String>,
    /// Where to go after login when no `next` is given.
    pub default_next: String,
    /// Provider used when a login request names none (empty: Google when
    /// configured, else the first of `providers`).
    pub default_provider: String,
    /// Believe `X-Forwarded-*` from every peer (legacy switch; prefer
    /// `server.trusted_proxies`, which names the proxies). Believed headers
    /// build the callback URL when `server.origin` is not set.
    pub trust_forwarded_headers: bool,
    /// Generic OpenID Connect issuers (Keycloak, Entra ID, Okta, Auth0, …).
    pub providers: Vec<ProviderConfig>,
}

/// Sign-up policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Any verified e-mail.
    Anyone,
    /// Verified e-mails of the listed domains.
    Domains,
    /// Nobody: only pre-provisioned users may log in.
    Existing,
}

/// `[[login.providers]]`: one OpenID Connect issuer, found by discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// Short name used in `?provider=` (letters, digits, `-`, `_`).
    pub name: String,
    /// Issuer URL (`{issuer}/.well-known/openid-configuration` must answer).
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (empty for a public client: PKCE only).
    pub client_secret: String,
    /// Scopes requested (`openid` is always included).
    pub scopes: Vec<String>,
    /// Treat the ID token's e-mail as verified even without
    /// `email_verified: true` — only for an issuer that controls its users'
    /// addresses itself (e.g. a single-tenant Entra ID, which omits the claim).
    pub trust_email: bool,
}

/// One JWT bearer issuer (`[[auth.issuers]]`; the same keys as `[auth]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// Off when false.
    pub enabled: bool,
    /// Issuer URL.
    pub issuer: String,
    /// Required `aud` (empty: not checked).
    pub audience: String,
    /// Accepted algorithms (RS/ES/PS only).
    pub algorithms: Vec<String>,
    /// Clock-skew tolerance, seconds.
    pub leeway_secs: u64,
    /// JWKS refresh interval, seconds (≥ 60).
    pub jwks_refresh_secs: u64,
    /// Scopes every token must carry.
    pub read_scopes: Vec<String>,
    /// Scopes that unlock writing (a token lacking any acts read-only).
    pub reload_scopes: Vec<String>,
    /// Accepted for compatibility; no effect.
    pub anonymous_read: bool,
    /// Accepted for compatibility; no effect.
    pub admin_token_fallback: bool,
    /// JSON pointer to the tenant claim.
    pub tenant_claim: String,
    /// Accepted tenants (empty: any).
    pub allowed_tenants: Vec<String>,
    /// Start even when the issuer is unreachable.
    pub start_degraded: bool,
    /// `email` or `sub`.
    pub user_claim: String,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            signup: Signup::Anyone,
            signup_domains: Vec::new(),
            redirect_hosts: Vec::new(),
            default_next: "/web/datasets".into(),
            default_provider: String::new(),
            trust_forwarded_headers: false,
            providers: Vec::new(),
        }
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            trust_email: false,
        }
    }
}

impl Default for JwtIssuerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            issuer: String::new(),
            audience: String::new(),
            algorithms: vec!["RS256".into()],
            leeway_secs: 60,
            jwks_refresh_secs: 3600,
            read_scopes: Vec::new(),
            reload_scopes: Vec::new(),
            anonymous_read: false,
            admin_token_fallback: true,
            tenant_claim: String::new(),
            allowed_tenants: Vec::new(),
            start_degraded: true,
            user_claim: "email".into(),
        }
    }
}

/// The enabled JWT issuers: `[auth]` itself (when `enabled`) then `[[auth.issuers]]`.
pub fn jwt_issuers(config: &Config) -> Vec<JwtIssuerConfig> {
    let a = &config.auth;
    let mut out = Vec::new();
    if a.enabled {
        out.push(JwtIssuerConfig {
            enabled: true,
            issuer: a.issuer.clone(),
            audience: a.audience.clone(),
            algorithms: a.algorithms.clone(),
            leeway_secs: a.leeway_secs,
            jwks_refresh_secs: a.jwks_refresh_secs,
            read_scopes: a.read_scopes.clone(),
            reload_scopes: a.reload_scopes.clone(),
            anonymous_read: a.anonymous_read,
            admin_token_fallback: a.admin_token_fallback,
            tenant_claim: a.tenant_claim.clone(),
            allowed_tenants: a.allowed_tenants.clone(),
            start_degraded: a.start_degraded,
            user_claim: a.user_claim.clone(),
        });
    }
    out.extend(a.issuers.iter().filter(|i| i.enabled).cloned());
    out
}

/// Google client id and secret: `[google]` / `GOOGLE_CLIENT_ID` +
/// `GOOGLE_CLIENT_SECRET`, else the original's `client_credentials.json`
/// (`{"web": {"client_id", "client_secret"}}` or `"installed"`). `None`
/// when Google login is not configured.
///
/// # Errors
/// The credentials file exists but cannot be read or parsed.
pub fn google_credentials(config: &Config) -> Result<Option<(String, String)>, ConfigError> {
    let g = &config.google;
    if !g.client_id.is_empty() && !g.client_secret.is_empty() {
        return Ok(Some((g.client_id.clone(), g.client_secret.clone())));
    }
    let path = std::path::Path::new(&g.credentials_path);
    if g.credentials_path.is_empty() || !path.exists() {
        if g.client_id.is_empty() != g.client_secret.is_empty() {
            return Err(ConfigError(
                "google.client_id and google.client_secret (GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET) must be set together"
                    .into(),
            ));
        }
        return Ok(None);
    }
    let (id, secret) = read_client_json(path)?;
    // An explicitly set value wins over the file's.
    let id = if g.client_id.is_empty() {
        id
    } else {
        g.client_id.clone()
    };
    let secret = if g.client_secret.is_empty() {
        secret
    } else {
        g.client_secret.clone()
    };
    Ok(Some((id, secret)))
}

/// Reads a Google client JSON file (`web` or `installed` object).
///
/// # Errors
/// Unreadable file, bad JSON, or missing fields; the message names the file.
pub fn read_client_json(path: &std::path::Path) -> Result<(String, String), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    parse_client_json(&text).map_err(|m| ConfigError(format!("{}: {m}", path.display())))
}

/// Parses the Google client JSON format.
///
/// # Errors
/// What is missing.
pub fn parse_client_json(text: &str) -> Result<(String, String), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.get("web").or_else(|| v.get("installed")).ok_or(
        "expected a \"web\" or \"installed\" object (the file Google Cloud Console downloads)",
    )?;
    let field = |k: &str| {
        obj.get(k)
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or(format!("\"{k}\" is missing"))
    };
    Ok((field("client_id")?, field("client_secret")?))
}

fn url_ok(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Checks `[login]`, `[[login.providers]]`, the Google endpoints and the JWT issuers.
///
/// # Errors
/// The first problem, phrased as what to fix.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    let fail = |m: String| Err(ConfigError(m));
    let l = &config.login;
    if l.signup == Signup::Domains && l.signup_domains.is_empty() {
        return fail(
            "login.signup = \"domains\" needs login.signup_domains, e.g. [\"example.org\"]".into(),
        );
    }
    if !dsg_core::redirect::is_local_path(&l.default_next) {
        return fail(format!(
            "login.default_next {:?} must be a path on this server, e.g. \"/web/datasets\"",
            l.default_next
        ));
    }
    for h in &l.redirect_hosts {
        if h.is_empty() || h.contains('/') && !url_ok(h) {
            return fail(format!(
                "login.redirect_hosts entry {h:?} must be a host name (ng.example.org) or an origin (https://ng.example.org)"
            ));
        }
    }
    let mut names = std::collections::HashSet::new();
    for p in &l.providers {
        if p.name.is_empty()
            || !p
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return fail(format!(
                "login.providers: name {:?} must be letters, digits, '-' or '_'",
                p.name
            ));
        }
        if p.name == "google" {
            return fail("login.providers: the name \"google\" is reserved for the built-in Google provider ([google])".into());
        }
        if !names.insert(p.name.clone()) {
            return fail(format!("login.providers: name {:?} is used twice", p.name));
        }
        if !url_ok(&p.issuer) {
            return fail(format!(
                "login.providers {:?}: issuer {:?} must be an http(s) URL",
                p.name, p.issuer
            ));
        }
        if p.client_id.is_empty() {
            return fail(format!(
                "login.providers {:?}: client_id is required",
                p.name
            ));
        }
    }
    let g = &config.google;
    for (k, v) in [
        ("issuer", &g.issuer),
        ("authorization_endpoint", &g.authorization_endpoint),
        ("token_endpoint", &g.token_endpoint),
        ("jwks_uri", &g.jwks_uri),
    ] {
        if !url_ok(v) {
            return fail(format!("google.{k} {v:?} must be an http(s) URL"));
        }
    }
    google_credentials(config)?;
    if !l.default_provider.is_empty()
        && l.default_provider != "google"
        && !names.contains(&l.default_provider)
    {
        return fail(format!(
            "login.default_provider {:?} names no provider in [[login.providers]] (or \"google\")",
            l.default_provider
        ));
    }
    for i in jwt_issuers(config) {
        let at = format!("JWT issuer {:?} ([auth] / [[auth.issuers]])", i.issuer);
        if !url_ok(&i.issuer) {
            return fail(format!("{at}: issuer must be an http(s) URL"));
        }
        if i.algorithms.is_empty() {
            return fail(format!(
                "{at}: algorithms must list at least one of RS256, ES256, PS256, …"
            ));
        }
        for a in &i.algorithms {
            if parse_algorithm(a).is_none() {
                return fail(format!(
                    "{at}: algorithm {a:?} is not allowed; use RS256/384/512, PS256/384/512, ES256 or ES384"
                ));
            }
        }
        if i.jwks_refresh_secs < 60 {
            return fail(format!("{at}: jwks_refresh_secs must be at least 60"));
        }
        if !i.tenant_claim.is_empty() && !i.tenant_claim.starts_with('/') {
            return fail(format!(
                "{at}: tenant_claim {:?} must be a JSON pointer such as \"/tid\"",
                i.tenant_claim
            ));
        }
        if !matches!(i.user_claim.as_str(), "email" | "sub") {
            return fail(format!("{at}: user_claim must be \"email\" or \"sub\""));
        }
    }
    Ok(())
}

/// `[google]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleConfig {
    /// OAuth client id (`GOOGLE_CLIENT_ID`).
    pub client_id: String,
    /// OAuth client secret (`GOOGLE_CLIENT_SECRET`).
    pub client_secret: String,
    /// Client JSON file of the original's format (`CLIENT_CREDENTIALS_PATH`).
    pub credentials_path: String,
    /// Google's issuer (built in; changed only for tests).
    pub issuer: String,
    /// Google's authorization endpoint.
    pub authorization_endpoint: String,
    /// Google's token endpoint.
    pub token_endpoint: String,
    /// Google's signing keys.
    pub jwks_uri: String,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: String::new(),
            credentials_path: "secrets/client_credentials.json".into(),
            issuer: "https://accounts.google.com".into(),
            authorization_endpoint: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_endpoint: "https://oauth2.googleapis.com/token".into(),
            jwks_uri: "https://www.googleapis.com/oauth2/v3/certs".into(),
        }
    }
}

/// RS/PS/ES algorithms by name ([`dsg_core::jwt::ASYMMETRIC_ALGORITHMS`]);
/// anything else (HS*, `none`, EdDSA) is `None`.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml_text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().map_err(|e| ConfigError(e.to_string()))?;
        let p = dir.path().join("dsg.toml");
        std::fs::write(&p, toml_text).map_err(|e| ConfigError(e.to_string()))?;
        let env = figment::providers::Env::prefixed("DSG_UNUSED_IN_TESTS_").split("__");
        struct NoEnv;
        impl crate::config::EnvSource for NoEnv {
            fn var(&self, _: &str) -> Option<String> {
                None
            }
        }
        Config::load_from(Some(&p), env, &NoEnv)
    }

    #[test]
    fn auth_block_and_more_issuers_parse() {
        let c = load(
            r#"
[auth]
enabled = true
issuer = "https://login.microsoftonline.com/t/v2.0"
audience = "api://dsg"
algorithms = ["RS256", "PS256"]
leeway_secs = 30
jwks_refresh_secs = 600
read_scopes = ["datasets:read"]
tenant_claim = "/tid"
allowed_tenants = ["t"]
start_degraded = false

[[auth.issuers]]
issuer = "https://kc.example.org/realms/lab"
algorithms = ["ES256"]

[[auth.issuers]]
enabled = false
issuer = "https://off.example.org"
"#,
        )
        .unwrap();
        let i = jwt_issuers(&c);
        assert_eq!(i.len(), 2);
        assert_eq!(i[0].audience, "api://dsg");
        assert!(!i[0].start_degraded);
        assert_eq!(i[1].issuer, "https://kc.example.org/realms/lab");
        assert!(i[1].start_degraded && i[1].jwks_refresh_secs == 3600);
    }

    #[test]
    fn bad_jwt_and_login_settings_are_refused_with_what_to_fix() {
        let base = "[auth]\nenabled = true\nissuer = \"https://i.example.org\"\n";
        for (extra, want) in [
            ("algorithms = [\"HS256\"]", "HS256"),
            ("algorithms = [\"none\"]", "none"),
            ("jwks_refresh_secs = 59", "at least 60"),
            ("tenant_claim = \"tid\"", "JSON pointer"),
            ("user_claim = \"upn\"", "user_claim"),
        ] {
            let e = load(&format!("{base}{extra}\n")).unwrap_err();
            assert!(e.0.contains(want), "{extra}: {e}");
        }
        let e = load("[login]\nsignup = \"domains\"\n").unwrap_err();
        assert!(e.0.contains("signup_domains"), "{e}");
        let e = load("[login]\ndefault_next = \"https://evil.org\"\n").unwrap_err();
        assert!(e.0.contains("default_next"), "{e}");
        let e = load("[[login.providers]]\nname = \"google\"\nissuer = \"https://x.org\"\nclient_id = \"c\"\n")
            .unwrap_err();
        assert!(e.0.contains("reserved"), "{e}");
        let e = load(
            "[[login.providers]]\nname = \"kc\"\nissuer = \"kc.example.org\"\nclient_id = \"c\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("issuer"), "{e}");
        assert!(
            load("[auth]\nissuer = \"\"\n").is_ok(),
            "disabled block is not checked"
        );
    }

    #[test]
    fn google_client_json_in_the_original_format() {
        assert_eq!(
            parse_client_json(r#"{"web": {"client_id": "a", "client_secret": "b"}}"#),
            Ok(("a".into(), "b".into()))
        );
        assert!(
            parse_client_json(r#"{"installed": {"client_id": "a", "client_secret": "b"}}"#).is_ok()
        );
        assert!(
            parse_client_json(r#"{"web": {"client_id": "a"}}"#)
                .unwrap_err()
                .contains("client_secret")
        );
        assert!(parse_client_json("{}").is_err());
    }
}
