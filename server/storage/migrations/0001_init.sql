-- Waymark schema v1 (SQLite and PostgreSQL).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'learner',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    created_at BIGINT NOT NULL,
    feed_head BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    acked_seq BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT
);
CREATE INDEX devices_by_user ON devices (user_id);

-- The feed is the source of truth: accepted device events and server decisions, in the
-- user's commit order (user_seq).
CREATE TABLE feed (
    user_id TEXT NOT NULL,
    user_seq BIGINT NOT NULL,
    origin TEXT NOT NULL,
    device_id TEXT,
    seq BIGINT,
    hlc TEXT NOT NULL,
    at BIGINT NOT NULL,
    tz TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, user_seq)
);
CREATE UNIQUE INDEX feed_by_device_event ON feed (device_id, seq) WHERE origin = 'device';

-- A cache of the fold of the user's feed through through_seq; rebuildable from the feed.
CREATE TABLE user_state (
    user_id TEXT PRIMARY KEY,
    through_seq BIGINT NOT NULL,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE catalog (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version TEXT NOT NULL,
    body TEXT NOT NULL,
    loaded_at BIGINT NOT NULL
);
