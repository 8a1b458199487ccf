-- One id space for people and service accounts: CAVE services attribute
-- edits by the `id` of `user/cache`, so a service account's id must never be
-- a user's id. Both tables draw ids from one sequence.

-- Tokens and grants follow a renumbered service account.
ALTER TABLE service_account_token
    DROP CONSTRAINT service_account_token_service_account_id_fkey,
    ADD CONSTRAINT service_account_token_service_account_id_fkey
        FOREIGN KEY (service_account_id) REFERENCES service_account (id)
        ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE service_account_grant
    DROP CONSTRAINT service_account_grant_service_account_id_fkey,
    ADD CONSTRAINT service_account_grant_service_account_id_fkey
        FOREIGN KEY (service_account_id) REFERENCES service_account (id)
        ON DELETE CASCADE ON UPDATE CASCADE;

CREATE SEQUENCE principal_id_seq AS BIGINT;
SELECT setval('principal_id_seq', GREATEST(
    (SELECT COALESCE(MAX(id), 0) FROM dsg_user),
    (SELECT COALESCE(MAX(id), 0) FROM service_account),
    1));

-- Renumber service accounts whose id is a user's.
UPDATE service_account
SET id = nextval('principal_id_seq')
WHERE id IN (SELECT id FROM dsg_user);

ALTER TABLE dsg_user ALTER COLUMN id DROP IDENTITY IF EXISTS;
ALTER TABLE dsg_user ALTER COLUMN id SET DEFAULT nextval('principal_id_seq');
ALTER TABLE service_account ALTER COLUMN id DROP IDENTITY IF EXISTS;
ALTER TABLE service_account ALTER COLUMN id SET DEFAULT nextval('principal_id_seq');

-- An explicit id (imports) must be free in both tables and moves the
-- sequence past it.
CREATE FUNCTION principal_id_check() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'dsg_user' THEN
        IF EXISTS (SELECT 1 FROM service_account WHERE id = NEW.id) THEN
            RAISE EXCEPTION 'principal id % already used by a service account', NEW.id
                USING ERRCODE = 'unique_violation';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM dsg_user WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'principal id % already used by a user', NEW.id
            USING ERRCODE = 'unique_violation';
    END IF;
    IF NEW.id > (SELECT last_value FROM principal_id_seq) THEN
        PERFORM setval('principal_id_seq', NEW.id);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER dsg_user_principal_id BEFORE INSERT OR UPDATE OF id ON dsg_user
    FOR EACH ROW EXECUTE FUNCTION principal_id_check();
CREATE TRIGGER service_account_principal_id BEFORE INSERT OR UPDATE OF id ON service_account
    FOR EACH ROW EXECUTE FUNCTION principal_id_check();
