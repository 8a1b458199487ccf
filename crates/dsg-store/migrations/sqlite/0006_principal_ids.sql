-- One id space for people and service accounts: CAVE services attribute
-- edits by the `id` of `user/cache`, so a service account's id must never be
-- a user's id.

-- Renumber service accounts whose id is a user's (their tokens and grants follow).
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE principal_renumber AS
SELECT id AS old_id,
       (SELECT MAX(m) FROM (SELECT COALESCE(MAX(id), 0) AS m FROM dsg_user
                            UNION ALL SELECT COALESCE(MAX(id), 0) FROM service_account
                            UNION ALL SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence
                                      WHERE name IN ('dsg_user', 'service_account')))
       + ROW_NUMBER() OVER (ORDER BY id) AS new_id
FROM service_account
WHERE id IN (SELECT id FROM dsg_user);

UPDATE service_account_token
SET service_account_id = (SELECT new_id FROM principal_renumber WHERE old_id = service_account_id)
WHERE service_account_id IN (SELECT old_id FROM principal_renumber);

UPDATE service_account_grant
SET service_account_id = (SELECT new_id FROM principal_renumber WHERE old_id = service_account_id)
WHERE service_account_id IN (SELECT old_id FROM principal_renumber);

UPDATE service_account
SET id = (SELECT new_id FROM principal_renumber WHERE old_id = id)
WHERE id IN (SELECT old_id FROM principal_renumber);

DROP TABLE principal_renumber;

-- Both tables allocate above the highest id either has ever used: each insert
-- raises the other table's AUTOINCREMENT counter to its id.
INSERT INTO sqlite_sequence (name, seq)
SELECT t.name, 0 FROM (SELECT 'dsg_user' AS name UNION ALL SELECT 'service_account') t
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence s WHERE s.name = t.name);

UPDATE sqlite_sequence
SET seq = (SELECT MAX(m) FROM (SELECT COALESCE(MAX(id), 0) AS m FROM dsg_user
                              UNION ALL SELECT COALESCE(MAX(id), 0) FROM service_account
                              UNION ALL SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence
                                        WHERE name IN ('dsg_user', 'service_account')))
WHERE name IN ('dsg_user', 'service_account');

CREATE TRIGGER dsg_user_principal_id AFTER INSERT ON dsg_user
BEGIN
    SELECT RAISE(ABORT, 'principal id already used by a service account')
    WHERE EXISTS (SELECT 1 FROM service_account WHERE id = NEW.id);
    UPDATE sqlite_sequence SET seq = NEW.id WHERE name = 'service_account' AND seq < NEW.id;
END;

CREATE TRIGGER service_account_principal_id AFTER INSERT ON service_account
BEGIN
    SELECT RAISE(ABORT, 'principal id already used by a user')
    WHERE EXISTS (SELECT 1 FROM dsg_user WHERE id = NEW.id);
    UPDATE sqlite_sequence SET seq = NEW.id WHERE name = 'dsg_user' AND seq < NEW.id;
END;

CREATE TRIGGER dsg_user_principal_id_update AFTER UPDATE OF id ON dsg_user
WHEN EXISTS (SELECT 1 FROM service_account WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'principal id already used by a service account');
END;

CREATE TRIGGER service_account_principal_id_update AFTER UPDATE OF id ON service_account
WHEN EXISTS (SELECT 1 FROM dsg_user WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'principal id already used by a user');
END;
