-- Web sessions of instructors and admins (server/storage/accounts.py, docs/operations.md
-- "Web sessions"): the browser's credential for the web pages, separate from device tokens.
-- A session is a cookie whose hash is the key here (its CSRF token is derived from the
-- cookie); it ends at `expires_at`, after an idle time past `last_seen_at`, or when revoked.
-- A look-up table, as device_tokens: keyed by what is looked up (the cookie's hash).
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
