-- SCIM 2.0: name parts that RFC 7643 models but the core schema did not, and a
-- soft-delete marker (SCIM DELETE deactivates a user and hides it from SCIM).
ALTER TABLE dsg_user ADD COLUMN family_name TEXT NOT NULL DEFAULT '';
ALTER TABLE dsg_user ADD COLUMN formatted_name TEXT NOT NULL DEFAULT '';
ALTER TABLE dsg_user ADD COLUMN scim_deleted_at BIGINT;
