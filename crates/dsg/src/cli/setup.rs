//! `dsg setup`: writes a configuration file — interactively (prompts on the
//! terminal, current answers as defaults) or from flags for scripts
//! (`--non-interactive`). Generates the server secret, takes the OAuth
//! client (or the Google client JSON file), checks what it can (the file
//! loads and validates, the JSON parses, the OpenID issuer answers) and
//! prints the redirect URIs to register with the identity provider.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::Args;
use dsg_server::Config;

/// Options of `dsg setup`; every prompt has a flag.
#[derive(Debug, Args, Default)]
pub struct SetupArgs {
    /// File to write (default: --config, else `dsg.toml`).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Ask nothing: take every answer from flags or defaults (for scripts).
    #[arg(long)]
    non_interactive: bool,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
    /// Public origin, e.g. `https://dsg.example.org` (empty: local use).
    #[arg(long)]
    origin: Option<String>,
    /// Port to listen on.
    #[arg(long)]
    port: Option<u16>,
    /// `local` or `production`.
    #[arg(long)]
    mode: Option<String>,
    /// `postgres://…` or a SQLite path (empty: SQLite in ./data).
    #[arg(long)]
    database_url: Option<String>,
    /// `Domain` of the login cookie, e.g. `.example.org` (empty: none).
    #[arg(long)]
    cookie_domain: Option<String>,
    /// Google OAuth client id.
    #[arg(long)]
    google_client_id: Option<String>,
    /// Google OAuth client secret.
    #[arg(long)]
    google_client_secret: Option<String>,
    /// Google client JSON file (as downloaded from Google Cloud Console).
    #[arg(long, value_name = "FILE")]
    google_credentials: Option<PathBuf>,
    /// Name of a generic OpenID Connect provider (e.g. `keycloak`).
    #[arg(long)]
    oidc_name: Option<String>,
    /// Its issuer URL.
    #[arg(long)]
    oidc_issuer: Option<String>,
    /// Its client id.
    #[arg(long)]
    oidc_client_id: Option<String>,
    /// Its client secret.
    #[arg(long)]
    oidc_client_secret: Option<String>,
    /// Who may sign up at first login: `anyone`, `domains` or `existing`.
    #[arg(long)]
    signup: Option<String>,
    /// E-mail domains for `--signup domains`, comma-separated.
    #[arg(long)]
    signup_domains: Option<String>,
}

struct Prompter<'a> {
    interactive: bool,
    input: Box<dyn BufRead + 'a>,
}

impl Prompter<'_> {
    /// The flag's value, else (interactive) the answer, else the default.
    fn ask(&mut self, flag: Option<String>, question: &str, default: &str) -> Result<String> {
        if let Some(v) = flag {
            return Ok(v.trim().to_owned());
        }
        if !self.interactive {
            return Ok(default.to_owned());
        }
        if default.is_empty() {
            eprint!("{question}: ");
        } else {
            eprint!("{question} [{default}]: ");
        }
        std::io::stderr().flush().ok();
        let mut line = String::new();
        self.input.read_line(&mut line)?;
        let line = line.trim();
        Ok(if line.is_empty() { default } else { line }.to_owned())
    }
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn secret() -> Result<String> {
    let mut b = [0u8; 48];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// Runs the wizard.
///
/// # Errors
/// Bad answers, an existing file without `--force`, or a written file that
/// does not validate.
pub async fn run(args: SetupArgs, config_flag: Option<&Path>) -> Result<()> {
    let stdin = std::io::stdin();
    let mut p = Prompter {
        interactive: !args.non_interactive,
        input: Box::new(stdin.lock()),
    };
    let out = args
        .output
        .clone()
        .or_else(|| config_flag.map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("dsg.toml"));
    if out.exists() && !args.force {
        let again = p.ask(
            None,
            &format!("{} exists; overwrite? (yes/no)", out.display()),
            "no",
        )?;
        if !again.eq_ignore_ascii_case("yes") {
            bail!("{} exists; use --force to overwrite it", out.display());
        }
    }
    if p.interactive {
        eprintln!("DatasetGateway setup: answer each question or press Enter for the default.");
    }
    let origin = p.ask(
        args.origin,
        "Public origin (e.g. https://dsg.example.org; empty for local use)",
        "",
    )?;
    let origin = origin.trim_end_matches('/').to_owned();
    let default_mode = if origin.starts_with("https://") {
        "production"
    } else {
        "local"
    };
    let mode = p.ask(args.mode, "Mode (local or production)", default_mode)?;
    if !matches!(mode.as_str(), "local" | "production") {
        bail!("mode must be \"local\" or \"production\", not {mode:?}");
    }
    let port: u16 = p
        .ask(
            args.port.map(|x| x.to_string()),
            "Port to listen on",
            "8200",
        )?
        .parse()
        .context("the port must be a number from 1 to 65535")?;
    let host = if mode == "production" {
        "0.0.0.0"
    } else {
        "127.0.0.1"
    };
    let database_url = p.ask(
        args.database_url,
        "Database (postgres://… or a SQLite file; empty: data/dsg.sqlite3)",
        "",
    )?;
    let default_cookie_domain = url::Url::parse(&origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .and_then(|h| h.split_once('.').map(|(_, rest)| format!(".{rest}")))
        .filter(|d| d.matches('.').count() >= 2)
        .unwrap_or_default();
    let cookie_domain = p.ask(
        args.cookie_domain,
        "Login cookie domain (shared with sibling hosts; empty for none)",
        &default_cookie_domain,
    )?;
    let mut google_json = p.ask(
        args.google_credentials.map(|x| x.display().to_string()),
        "Google client JSON file (empty to type the id and secret, or to skip Google)",
        "",
    )?;
    let (mut gid, mut gsecret) = (String::new(), String::new());
    if google_json.is_empty() {
        gid = p.ask(
            args.google_client_id,
            "Google client id (empty: no Google login)",
            "",
        )?;
        if !gid.is_empty() {
            gsecret = p.ask(args.google_client_secret, "Google client secret", "")?;
        }
    } else {
        let path = PathBuf::from(&google_json);
        dsg_server::config::login::read_client_json(&path)?;
        google_json = std::fs::canonicalize(&path)
            .unwrap_or(path)
            .display()
            .to_string();
        println!("checked: {google_json} holds a Google client id and secret");
    }
    let oidc_name = p.ask(
        args.oidc_name,
        "Another OpenID Connect provider's short name (e.g. keycloak; empty: none)",
        "",
    )?;
    let (mut oidc_issuer, mut oidc_id, mut oidc_secret) =
        (String::new(), String::new(), String::new());
    if !oidc_name.is_empty() {
        oidc_issuer = p.ask(args.oidc_issuer, "Its issuer URL", "")?;
        oidc_id = p.ask(args.oidc_client_id, "Its client id", "")?;
        oidc_secret = p.ask(
            args.oidc_client_secret,
            "Its client secret (empty for a public client)",
            "",
        )?;
    }
    let signup = p.ask(
        args.signup,
        "Who may sign up at first login (anyone, domains, existing)",
        "anyone",
    )?;
    let domains = if signup == "domains" {
        p.ask(
            args.signup_domains,
            "E-mail domains allowed to sign up (comma-separated)",
            "",
        )?
    } else {
        String::new()
    };

    let mut t = String::from(
        "# DatasetGateway configuration, written by `dsg setup`.\n# Keep it private: it holds the server secret.\n\n[server]\n",
    );
    t += &format!(
        "mode = {}\nbind = {}\n",
        q(&mode),
        q(&format!("{host}:{port}"))
    );
    if !origin.is_empty() {
        t += &format!("origin = {}\n", q(&origin));
    }
    t += &format!("secret_key = {}\n", q(&secret()?));
    if !database_url.is_empty() {
        t += &format!("\n[database]\nurl = {}\n", q(&database_url));
    }
    if !cookie_domain.is_empty() {
        t += &format!("\n[auth]\ncookie_domain = {}\n", q(&cookie_domain));
    }
    if !google_json.is_empty() {
        t += &format!("\n[google]\ncredentials_path = {}\n", q(&google_json));
    } else if !gid.is_empty() {
        t += &format!(
            "\n[google]\nclient_id = {}\nclient_secret = {}\n",
            q(&gid),
            q(&gsecret)
        );
    }
    t += &format!("\n[login]\nsignup = {}\n", q(&signup));
    if !domains.is_empty() {
        let list: Vec<String> = domains
            .split(',')
            .map(|d| q(d.trim()))
            .filter(|d| d != "\"\"")
            .collect();
        t += &format!("signup_domains = [{}]\n", list.join(", "));
    }
    if !oidc_name.is_empty() {
        t += &format!(
            "\n[[login.providers]]\nname = {}\nissuer = {}\nclient_id = {}\nclient_secret = {}\n",
            q(&oidc_name),
            q(&oidc_issuer),
            q(&oidc_id),
            q(&oidc_secret)
        );
    }
    write_private(&out, &t)?;
    println!("wrote {}", out.display());

    // Check what can be checked.
    let config = Config::load(Some(&out))
        .with_context(|| format!("{} was written but does not validate", out.display()))?;
    println!("checked: the configuration loads and validates");
    if !oidc_issuer.is_empty() {
        let http = dsg_server::outbound::client(std::time::Duration::from_secs(5))?;
        match dsg_server::idp::oidc::discover(&http, &oidc_issuer).await {
            Ok(_) => println!("checked: {oidc_issuer} answers OpenID discovery"),
            Err(e) => println!(
                "warning: {oidc_issuer} is not reachable now ({e}); the server retries in the background"
            ),
        }
    }
    let base = if config.server.origin.is_empty() {
        format!("http://localhost:{port}")
    } else {
        config.server.origin.clone()
    };
    println!("\nRegister these redirect URIs with your identity provider(s):");
    println!("  {base}{}", dsg_server::login::BROWSER_CALLBACK);
    println!("  {base}{}", dsg_server::login::CAVE_CALLBACK);
    println!(
        "\nStart the server with: dsg --config {} serve",
        out.display()
    );
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
