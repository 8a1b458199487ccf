-- DatasetGateway as an OpenID Connect provider (WebKnossos, JupyterHub,
-- Grafana, MinIO, …): registered clients, the RS256 signing keys (private
-- halves sealed with a key derived from the server secret), single-use
-- authorization codes and rotating refresh tokens (only hashes stored).

CREATE TABLE oidc_client (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id                 TEXT    NOT NULL UNIQUE CHECK (client_id <> ''),
    name                      TEXT    NOT NULL CHECK (name <> ''),
    -- SHA-256 of the secret; NULL for a public client (PKCE S256 required).
    secret_hash               BLOB,
    public                    INTEGER NOT NULL DEFAULT 0,
    -- JSON lists of exact URIs and allowed scopes.
    redirect_uris             TEXT    NOT NULL,
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
    scopes                    TEXT    NOT NULL,
    enabled                   INTEGER NOT NULL DEFAULT 1,
    created                   INTEGER  NOT NULL,
    CHECK (public OR secret_hash IS NOT NULL)
);

-- The datasets a client serves: the only ones its `datasets` claim names.
CREATE TABLE oidc_client_dataset (
    client_id  INTEGER NOT NULL REFERENCES oidc_client (id) ON DELETE CASCADE,
    dataset_id INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, dataset_id)
);

CREATE TABLE oidc_signing_key (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kid           TEXT   NOT NULL UNIQUE,
    -- nonce ‖ ChaCha20-Poly1305(PKCS#1 DER), under a key derived from the server secret.
    sealed_key    BLOB  NOT NULL,
    public_jwk    TEXT   NOT NULL,
    created       INTEGER NOT NULL,
    -- Published from creation; signs from this instant (after the overlap).
    signs_from    INTEGER NOT NULL,
    -- Stops signing (a newer key took over) …
    retired_at    INTEGER,
    -- … and leaves the JWKS once the tokens it signed have expired.
    unpublish_at  INTEGER
);

CREATE TABLE oidc_code (
    code_hash      BLOB   PRIMARY KEY,
    client_id      INTEGER  NOT NULL REFERENCES oidc_client (id) ON DELETE CASCADE,
    user_id        INTEGER  NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    redirect_uri   TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    expires_at     INTEGER  NOT NULL,
    used           INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE oidc_refresh_token (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB  NOT NULL UNIQUE,
    client_id  INTEGER NOT NULL REFERENCES oidc_client (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    scope      TEXT   NOT NULL,
    created    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_refresh_token_user ON oidc_refresh_token (user_id);
