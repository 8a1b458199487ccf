-- Scale world for bench/replicas.sh, loaded straight into a freshly migrated
-- PostgreSQL database with INSERT … SELECT generate_series (no per-row round
-- trips; foreign keys, unique indexes and the principal-id trigger all stay
-- on, so the data is checked by the schema itself).
--
--   psql -v ON_ERROR_STOP=1 -v users=100000 -v datasets=10000 -v per_user=10 \
--        -v groups=1000 -v extra_tokens=2000 -v salt=bench123 -f bench/scale.sql "$DATABASE_URL"
--
-- What it creates (ids are explicit, so the benchmark knows them up front):
--   dsg_user        id 1..users, user<n>@scale.example.org
--   dataset         id 1..datasets, ds<n> (closed, no TOS)
--   dsg_group       id 1..groups, lab<g>; user n is a member of group (n % groups) + 1,
--                   and each group has "view" on one dataset (group_dataset_permission)
--   dataset_grant   per_user grants per user (users × per_user rows, 1,000,000 by default):
--                   grant k of user n is on dataset ((n*7 + k*97) % datasets) + 1 with
--                   permission ((n + k) % 4) + 1; distinct per user, so the unique index holds
--   api_key         id n (1..users): user n's "cold" token;
--                   id users+m (1..extra_tokens): a token of user ((m-1) % users) + 1,
--                   used by the revoke→401 test (each revoked once)
-- Token n's plaintext is token(n) = hex(sha256(salt || ':' || n)) — 64 lower-case
-- hex characters like a real token — and api_key.key_hash = sha256(token(n)), as the
-- server stores it. bench/replicas.sh recomputes the plaintexts with the same formula.
--
-- Not written: audit_log rows (a bulk load is not a user action) and cache_event
-- rows (the servers start after the load, with empty caches: that is "cold").

\set ON_ERROR_STOP 1
\timing on
BEGIN;

-- Microseconds since the epoch, like the server's columns.
CREATE TEMP TABLE bench_now AS SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint AS t;

INSERT INTO dataset (id, name, description, access_mode, scim_id, created, updated)
SELECT d, 'ds' || lpad(d::text, 5, '0'), 'bench dataset ' || d, 'closed',
       gen_random_uuid()::text, t, t
FROM generate_series(1, :datasets) AS d, bench_now;

-- dsg_user ids come from principal_id_seq; the BEFORE INSERT trigger checks an
-- explicit id against service_account and moves the sequence past it.
INSERT INTO dsg_user (id, email, name, display_name, scim_id, created, updated)
SELECT n, 'user' || n || '@scale.example.org', 'user' || n, 'User ' || n,
       gen_random_uuid()::text, t, t
FROM generate_series(1, :users) AS n, bench_now;

INSERT INTO dsg_group (id, name, scim_id, created, updated)
SELECT g, 'lab' || g, gen_random_uuid()::text, t, t
FROM generate_series(1, :groups) AS g, bench_now;

INSERT INTO user_group (user_id, group_id, is_admin, created)
SELECT n, (n % :groups) + 1, FALSE, t
FROM generate_series(1, :users) AS n, bench_now;

INSERT INTO group_dataset_permission (group_id, dataset_id, permission_id, created)
SELECT g, ((g * 13) % :datasets) + 1, (SELECT id FROM permission WHERE name = 'view'), t
FROM generate_series(1, :groups) AS g, bench_now;

-- permission ids 1..4 are view, edit, manage, admin (inserted by the first migration).
INSERT INTO dataset_grant (user_id, dataset_id, permission_id, source, created)
SELECT n, ((n * 7 + k * 97) % :datasets) + 1, ((n + k) % 4) + 1, 'manual', t
FROM generate_series(1, :users) AS n, generate_series(0, :per_user - 1) AS k, bench_now;

INSERT INTO api_key (id, user_id, key_hash, key_prefix, description, created)
SELECT id, owner, sha256(convert_to(tok, 'UTF8')), left(tok, 8), descr, t
FROM (
    SELECT n AS id, n AS owner, 'bench cold' AS descr,
           encode(sha256(convert_to(:'salt' || ':' || n, 'UTF8')), 'hex') AS tok
    FROM generate_series(1, :users) AS n
    UNION ALL
    SELECT :users + m, ((m - 1) % :users) + 1, 'bench revoke',
           encode(sha256(convert_to(:'salt' || ':' || (:users + m), 'UTF8')), 'hex')
    FROM generate_series(1, :extra_tokens) AS m
) AS k, bench_now;

-- Explicit ids do not advance identity sequences: move them past the rows so
-- that later inserts (dsg seed, the API) get fresh ids.
SELECT setval(pg_get_serial_sequence('dataset', 'id'), (SELECT max(id) FROM dataset));
SELECT setval(pg_get_serial_sequence('dsg_group', 'id'), (SELECT max(id) FROM dsg_group));
SELECT setval(pg_get_serial_sequence('api_key', 'id'), (SELECT max(id) FROM api_key));
SELECT last_value AS principal_id_seq FROM principal_id_seq;

COMMIT;
ANALYZE;
