-- DatasetGateway schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql
-- (a test compares the two inventories).
-- Times are Unix microseconds (UTC) in INTEGER columns, so comparisons are exact and portable.
-- Booleans are 0/1. Ids are never reused (AUTOINCREMENT): clients store them.

CREATE TABLE permission (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO permission (name) VALUES ('view'), ('edit'), ('manage'), ('admin');

CREATE TABLE dsg_user (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    email        TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    display_name TEXT    NOT NULL DEFAULT '',
    admin        INTEGER NOT NULL DEFAULT 0,
    is_active    INTEGER NOT NULL DEFAULT 1,
    gdpr_consent INTEGER NOT NULL DEFAULT 0,
    pi           TEXT    NOT NULL DEFAULT '',
    read_only    INTEGER NOT NULL DEFAULT 0,
    notes        TEXT    NOT NULL DEFAULT '',
    picture_url  TEXT    NOT NULL DEFAULT '',
    parent_id    INTEGER REFERENCES dsg_user (id) ON DELETE CASCADE,
    scim_id      TEXT    NOT NULL UNIQUE,
    external_id  TEXT UNIQUE,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    last_login   INTEGER
);
CREATE UNIQUE INDEX dsg_user_email_ci ON dsg_user (lower(email));
CREATE INDEX dsg_user_parent ON dsg_user (parent_id);

CREATE TABLE user_identity (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    email      TEXT    NOT NULL DEFAULT '',
    created    INTEGER NOT NULL,
    last_login INTEGER,
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identity_user ON user_identity (user_id);

CREATE TABLE affiliation (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    name    TEXT    NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE dsg_group (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    scim_id     TEXT    NOT NULL UNIQUE,
    external_id TEXT UNIQUE,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);

CREATE TABLE user_group (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    group_id   INTEGER NOT NULL REFERENCES dsg_group (id) ON DELETE CASCADE,
    is_admin   INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER,
    created    INTEGER NOT NULL,
    UNIQUE (user_id, group_id)
);
CREATE INDEX user_group_group ON user_group (group_id);

CREATE TABLE service (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    base_url     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE dataset (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    tos_id      INTEGER REFERENCES tos_document (id) ON DELETE SET NULL,
    access_mode TEXT    NOT NULL DEFAULT 'closed' CHECK (access_mode IN ('closed', 'public')),
    scim_id     TEXT    NOT NULL UNIQUE,
    external_id TEXT UNIQUE,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);

CREATE TABLE dataset_version (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    version    TEXT    NOT NULL,
    prefix     TEXT    NOT NULL DEFAULT '',
    is_public  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (dataset_id, version)
);

CREATE TABLE tos_document (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL,
    text               TEXT    NOT NULL,
    dataset_id         INTEGER REFERENCES dataset (id) ON DELETE CASCADE,
    dataset_version_id INTEGER REFERENCES dataset_version (id) ON DELETE CASCADE,
    service_id         INTEGER REFERENCES service (id) ON DELETE CASCADE,
    invite_token       TEXT    NOT NULL UNIQUE,
    effective_date     INTEGER NOT NULL,
    retired_date       INTEGER,
    created            INTEGER NOT NULL
);
CREATE INDEX tos_document_dataset ON tos_document (dataset_id);

CREATE TABLE dataset_bucket (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    UNIQUE (dataset_id, name)
);

CREATE TABLE dataset_version_bucket (
    version_id INTEGER NOT NULL REFERENCES dataset_version (id) ON DELETE CASCADE,
    bucket_id  INTEGER NOT NULL REFERENCES dataset_bucket (id) ON DELETE CASCADE,
    PRIMARY KEY (version_id, bucket_id)
);

CREATE TABLE group_dataset_permission (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id      INTEGER NOT NULL REFERENCES dsg_group (id) ON DELETE CASCADE,
    dataset_id    INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    permission_id INTEGER NOT NULL REFERENCES permission (id) ON DELETE CASCADE,
    created       INTEGER NOT NULL,
    UNIQUE (group_id, dataset_id, permission_id)
);

-- "grant" is an SQL keyword, hence dataset_grant.
CREATE TABLE dataset_grant (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    dataset_id         INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    dataset_version_id INTEGER REFERENCES dataset_version (id) ON DELETE CASCADE,
    permission_id      INTEGER NOT NULL REFERENCES permission (id) ON DELETE CASCADE,
    group_id           INTEGER REFERENCES dsg_group (id) ON DELETE CASCADE,
    granted_by_id      INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL,
    source             TEXT    NOT NULL DEFAULT 'manual',
    created            INTEGER NOT NULL,
    expires_at         INTEGER
);
-- One row per (user, dataset, version, permission, group scope); NULLs folded to 0.
CREATE UNIQUE INDEX dataset_grant_unique ON dataset_grant
    (user_id, dataset_id, COALESCE(dataset_version_id, 0), permission_id, COALESCE(group_id, 0));
CREATE INDEX dataset_grant_dataset ON dataset_grant (dataset_id);

CREATE TABLE service_table (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    service_name TEXT    NOT NULL,
    table_name   TEXT    NOT NULL,
    dataset_id   INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    UNIQUE (service_name, table_name)
);
CREATE INDEX service_table_table ON service_table (table_name);

CREATE TABLE public_root (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    service_table_id INTEGER NOT NULL REFERENCES service_table (id) ON DELETE CASCADE,
    root_id          INTEGER NOT NULL,
    UNIQUE (service_table_id, root_id)
);

CREATE TABLE tos_acceptance (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    tos_document_id INTEGER NOT NULL REFERENCES tos_document (id) ON DELETE CASCADE,
    accepted_at     INTEGER NOT NULL,
    ip_address      TEXT,
    UNIQUE (user_id, tos_document_id)
);

-- User tokens. Only the SHA-256 of the token is stored; key_prefix helps people tell them apart.
CREATE TABLE api_key (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    key_hash       BLOB    NOT NULL UNIQUE,
    key_prefix     TEXT    NOT NULL DEFAULT '',
    description    TEXT    NOT NULL DEFAULT '',
    created        INTEGER NOT NULL,
    last_used      INTEGER,
    expires_at     INTEGER,
    scope_read_only INTEGER NOT NULL DEFAULT 0,
    -- When 1, the token sees only the datasets listed in api_key_dataset.
    scope_datasets INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_key_user ON api_key (user_id);

CREATE TABLE api_key_dataset (
    api_key_id INTEGER NOT NULL REFERENCES api_key (id) ON DELETE CASCADE,
    dataset_id INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    PRIMARY KEY (api_key_id, dataset_id)
);

CREATE TABLE service_account (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    description   TEXT    NOT NULL DEFAULT '',
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_by_id INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL
);

CREATE TABLE service_account_token (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    service_account_id INTEGER NOT NULL REFERENCES service_account (id) ON DELETE CASCADE,
    key_hash           BLOB    NOT NULL UNIQUE,
    key_prefix         TEXT    NOT NULL DEFAULT '',
    description        TEXT    NOT NULL DEFAULT '',
    created            INTEGER NOT NULL,
    last_used          INTEGER,
    expires_at         INTEGER
);

CREATE TABLE service_account_grant (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    service_account_id INTEGER NOT NULL REFERENCES service_account (id) ON DELETE CASCADE,
    dataset_id         INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    dataset_version_id INTEGER REFERENCES dataset_version (id) ON DELETE CASCADE,
    permission_id      INTEGER NOT NULL REFERENCES permission (id) ON DELETE CASCADE,
    granted_by_id      INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL,
    created            INTEGER NOT NULL,
    expires_at         INTEGER
);
CREATE UNIQUE INDEX service_account_grant_unique ON service_account_grant
    (service_account_id, dataset_id, COALESCE(dataset_version_id, 0), permission_id);

-- Bearer tokens for identity providers pushing users over SCIM.
CREATE TABLE scim_token (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    key_hash      BLOB    NOT NULL UNIQUE,
    key_prefix    TEXT    NOT NULL DEFAULT '',
    created_by_id INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL,
    created       INTEGER NOT NULL,
    last_used     INTEGER,
    revoked_at    INTEGER
);

CREATE TABLE access_request (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    dataset_id         INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    dataset_version_id INTEGER REFERENCES dataset_version (id) ON DELETE CASCADE,
    permission_id      INTEGER NOT NULL REFERENCES permission (id) ON DELETE CASCADE,
    message            TEXT    NOT NULL DEFAULT '',
    status             TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'withdrawn')),
    decided_by_id      INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL,
    decided_at         INTEGER,
    decision_note      TEXT    NOT NULL DEFAULT '',
    created            INTEGER NOT NULL
);
CREATE INDEX access_request_dataset ON access_request (dataset_id, status);

-- Access promised to an e-mail address; becomes a grant at first login.
CREATE TABLE invitation (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    email              TEXT    NOT NULL,
    dataset_id         INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    dataset_version_id INTEGER REFERENCES dataset_version (id) ON DELETE CASCADE,
    permission_id      INTEGER NOT NULL REFERENCES permission (id) ON DELETE CASCADE,
    grant_expires_at   INTEGER,
    invited_by_id      INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL,
    created            INTEGER NOT NULL,
    expires_at         INTEGER,
    accepted_at        INTEGER,
    accepted_user_id   INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL
);
CREATE INDEX invitation_email ON invitation (lower(email));

-- Append-only: no foreign keys (rows outlive what they name) and triggers refuse UPDATE/DELETE.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp    INTEGER NOT NULL,
    actor_id     INTEGER,
    actor        TEXT    NOT NULL DEFAULT '',
    action       TEXT    NOT NULL,
    target_type  TEXT    NOT NULL,
    target_id    TEXT    NOT NULL,
    before_state TEXT,
    after_state  TEXT,
    request_id   TEXT
);
CREATE INDEX audit_log_time ON audit_log (timestamp);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Cache invalidation outbox: every mutation that can change an answer appends rows here in
-- its own transaction; every server (and replica) replays new rows to drop stale entries.
-- kind: 'user' | 'sa' | 'token' | 'all'; target: id, token-hash hex, or ''.
CREATE TABLE cache_event (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,
    target  TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL
);
