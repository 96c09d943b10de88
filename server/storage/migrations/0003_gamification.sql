-- Gamification: the points ledger, badges and certificates as queryable tables (the feed's
-- decisions stay the source of truth; these rows are written in the same transaction),
-- the learner's gamification state beside the fold's, instructor-defined groups for
-- leaderboards, the leaderboard opt-out, and the server's secrets (certificate-code key,
-- credential signing key) shared by every instance.
ALTER TABLE user_state ADD COLUMN gamify TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN leaderboard_opt_out INTEGER NOT NULL DEFAULT 0;

CREATE TABLE points_ledger (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    points BIGINT NOT NULL,
    rule TEXT NOT NULL,
    ref TEXT NOT NULL,
    earned_at BIGINT NOT NULL,
    week TEXT NOT NULL,
    awarded_at BIGINT NOT NULL,
    user_seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX points_ledger_by_week ON points_ledger (week, user_id);

CREATE TABLE user_badges (
    user_id TEXT NOT NULL,
    badge_id TEXT NOT NULL,
    name TEXT NOT NULL,
    earned_at BIGINT NOT NULL,
    points BIGINT NOT NULL,
    evidence TEXT NOT NULL,
    user_seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, badge_id)
);

CREATE TABLE certificates (
    code TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    title TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    user_seq BIGINT NOT NULL,
    UNIQUE (user_id, kind, ref)
);

CREATE TABLE learner_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
