-- Failed logins per user name and per client address, for the login throttle
-- (server/storage/accounts.py): failures counted in a window, and a lock-out that grows.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
