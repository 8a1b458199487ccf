-- The DSG-native model (dsg-native-v1 §2): service version evaluation,
-- version branches and ordinals, per-service dataset translations, and
-- grants / group permissions / service-account grants scoped to a service.
-- Additive: existing rows keep their meaning (no service = every service,
-- branch "main", no ordinal).

ALTER TABLE service ADD COLUMN version_eval_mode TEXT NOT NULL DEFAULT 'linear'
    CHECK (version_eval_mode IN ('linear', 'dag'));

ALTER TABLE dataset_version ADD COLUMN branch TEXT NOT NULL DEFAULT 'main' CHECK (branch <> '');
ALTER TABLE dataset_version ADD COLUMN ordinal INTEGER;
CREATE UNIQUE INDEX dataset_version_ordinal ON dataset_version (dataset_id, branch, ordinal)
    WHERE ordinal IS NOT NULL;

CREATE TABLE dataset_translation (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id         INTEGER NOT NULL REFERENCES service (id) ON DELETE CASCADE,
    client_name        TEXT    NOT NULL CHECK (client_name <> ''),
    client_version     TEXT    CHECK (client_version IS NULL OR client_version <> ''),
    dataset_id         INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    dataset_version_id INTEGER REFERENCES dataset_version (id) ON DELETE CASCADE,
    created            INTEGER NOT NULL,
    CHECK ((client_version IS NULL) = (dataset_version_id IS NULL))
);
CREATE UNIQUE INDEX dataset_translation_version ON dataset_translation (service_id, client_name, client_version)
    WHERE client_version IS NOT NULL;
CREATE UNIQUE INDEX dataset_translation_name ON dataset_translation (service_id, client_name)
    WHERE client_version IS NULL;

ALTER TABLE dataset_grant ADD COLUMN service_id INTEGER REFERENCES service (id) ON DELETE CASCADE;
DROP INDEX dataset_grant_unique;
CREATE UNIQUE INDEX dataset_grant_unique ON dataset_grant
    (user_id, dataset_id, COALESCE(dataset_version_id, 0), permission_id, COALESCE(group_id, 0), COALESCE(service_id, 0));

-- A grant restricted to some of its dataset's buckets counts for /gcs_token
-- only on those (it still counts everywhere else).
CREATE TABLE dataset_grant_bucket (
    grant_id  INTEGER NOT NULL REFERENCES dataset_grant (id) ON DELETE CASCADE,
    bucket_id INTEGER NOT NULL REFERENCES dataset_bucket (id) ON DELETE CASCADE,
    PRIMARY KEY (grant_id, bucket_id)
);

ALTER TABLE service_account_grant ADD COLUMN service_id INTEGER REFERENCES service (id) ON DELETE CASCADE;
DROP INDEX service_account_grant_unique;
CREATE UNIQUE INDEX service_account_grant_unique ON service_account_grant
    (service_account_id, dataset_id, COALESCE(dataset_version_id, 0), permission_id, COALESCE(service_id, 0));

-- SQLite cannot drop a table constraint: rebuild with the service column.
CREATE TABLE group_dataset_permission_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id      INTEGER NOT NULL REFERENCES dsg_group (id) ON DELETE CASCADE,
    dataset_id    INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    permission_id INTEGER NOT NULL REFERENCES permission (id) ON DELETE CASCADE,
    service_id    INTEGER REFERENCES service (id) ON DELETE CASCADE,
    created       INTEGER NOT NULL
);
INSERT INTO group_dataset_permission_new (id, group_id, dataset_id, permission_id, created)
    SELECT id, group_id, dataset_id, permission_id, created FROM group_dataset_permission;
DROP TABLE group_dataset_permission;
ALTER TABLE group_dataset_permission_new RENAME TO group_dataset_permission;
CREATE UNIQUE INDEX group_dataset_permission_unique ON group_dataset_permission
    (group_id, dataset_id, permission_id, COALESCE(service_id, 0));
