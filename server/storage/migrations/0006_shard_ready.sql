-- Ready to shard by learner (Citus: docs/operations.md). Every primary key and unique
-- index of a learner table includes the learner (users.id, user_id elsewhere); what is
-- looked up globally goes through small look-up tables keyed by what is looked up: a user
-- name, a device's token hash (and its id), a certificate code. The foreign key from
-- devices to users goes (co-location keeps them together; the store writes both).

CREATE TABLE usernames (
    username TEXT PRIMARY KEY,
    user_id TEXT NOT NULL
);
INSERT INTO usernames (username, user_id) SELECT username, id FROM users;

CREATE TABLE device_tokens (
    token_hash TEXT PRIMARY KEY,
    device_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL
);
INSERT INTO device_tokens (token_hash, device_id, user_id)
SELECT token_hash, id, user_id FROM devices;

CREATE TABLE certificate_codes (
    code TEXT PRIMARY KEY,
    user_id TEXT NOT NULL
);
INSERT INTO certificate_codes (code, user_id) SELECT code, user_id FROM certificates;

CREATE TABLE devices_v6 (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    acked_seq BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT,
    PRIMARY KEY (user_id, id)
);
INSERT INTO devices_v6 (user_id, id, name, created_at, revoked_at, acked_seq, last_seen_at)
SELECT user_id, id, name, created_at, revoked_at, acked_seq, last_seen_at FROM devices;
DROP TABLE devices;
ALTER TABLE devices_v6 RENAME TO devices;

CREATE TABLE users_v6 (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'learner',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    created_at BIGINT NOT NULL,
    plan TEXT NOT NULL DEFAULT 'free',
    leaderboard_opt_out INTEGER NOT NULL DEFAULT 0
);
INSERT INTO users_v6 (id, username, password_hash, role, timezone, created_at, plan,
                      leaderboard_opt_out)
SELECT id, username, password_hash, role, timezone, created_at, plan, leaderboard_opt_out
FROM users;
DROP TABLE users;
ALTER TABLE users_v6 RENAME TO users;

CREATE TABLE certificates_v6 (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    user_seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind, ref)
);
INSERT INTO certificates_v6 (user_id, kind, ref, code, title, issued_at, user_seq)
SELECT user_id, kind, ref, code, title, issued_at, user_seq FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_v6 RENAME TO certificates;

DROP INDEX feed_by_device_event;
CREATE UNIQUE INDEX feed_by_device_event ON feed (user_id, device_id, seq)
WHERE origin = 'device';
