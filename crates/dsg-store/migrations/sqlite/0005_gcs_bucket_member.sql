-- Bucket IAM members DatasetGateway added itself (roles/storage.objectViewer), so that
-- reconciliation removes only what it added and never a binding someone else made.
-- member is 'user:<lower-cased email>'; user_id becomes NULL when the user is deleted.
CREATE TABLE gcs_bucket_member (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket  TEXT    NOT NULL,
    member  TEXT    NOT NULL,
    user_id INTEGER REFERENCES dsg_user (id) ON DELETE SET NULL,
    created INTEGER NOT NULL,
    UNIQUE (bucket, member)
);
CREATE INDEX gcs_bucket_member_member ON gcs_bucket_member (member);
CREATE INDEX gcs_bucket_member_user ON gcs_bucket_member (user_id);
