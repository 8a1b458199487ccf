-- Tokens and sessions as today's clients use them (dsg-native-v1 §8, §9):
-- the stable long-lived token, registered web clients and their delegated
-- keys, and remembered consents.

-- A web application at an exact origin that may ask for delegated keys
-- through the sign-in popup (`/login?origin=O&token=api`).
CREATE TABLE registered_client (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    origin           TEXT    NOT NULL UNIQUE CHECK (origin <> ''),
    name             TEXT    NOT NULL CHECK (name <> ''),
    owner            TEXT    NOT NULL DEFAULT '',
    enabled          INTEGER NOT NULL DEFAULT 1,
    -- Reserved (stored, not enforced): a JSON list of service names.
    allowed_services TEXT    NOT NULL DEFAULT '[]',
    created          INTEGER  NOT NULL
);

-- "Don't ask again for this site".
CREATE TABLE client_consent (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES dsg_user (id) ON DELETE CASCADE,
    client_id INTEGER NOT NULL REFERENCES registered_client (id) ON DELETE CASCADE,
    created   INTEGER NOT NULL,
    UNIQUE (user_id, client_id)
);

-- long_lived: the person's long-lived token (GET /api/v1/long_lived_token);
-- generation: set on a token derived from the server's key (one live row
-- per person), unset on rows minted before derivation (kept until rotated).
ALTER TABLE api_key ADD COLUMN long_lived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_key ADD COLUMN generation INTEGER;
-- A key the sign-in popup delivered to a registered client: no admin power.
-- Its value is derived from the server's key and derivation_salt, so the
-- popup can deliver it again; a client with keys cannot be deleted.
ALTER TABLE api_key ADD COLUMN delegated_client_id INTEGER REFERENCES registered_client (id);
ALTER TABLE api_key ADD COLUMN derivation_salt BLOB;
CREATE UNIQUE INDEX api_key_long_lived ON api_key (user_id) WHERE generation IS NOT NULL;
CREATE INDEX api_key_delegated ON api_key (user_id, delegated_client_id) WHERE delegated_client_id IS NOT NULL;
UPDATE api_key SET long_lived = 1
    WHERE description = 'Default long-lived API token' AND expires_at IS NULL;

-- The next generation of each person's long-lived token: revoked values
-- never come back.
CREATE TABLE long_lived_generation (
    user_id INTEGER PRIMARY KEY REFERENCES dsg_user (id) ON DELETE CASCADE,
    next    INTEGER NOT NULL
);
