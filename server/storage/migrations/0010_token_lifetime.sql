-- Device tokens that expire, and refresh tokens (server/storage/accounts.py, docs/
-- operations.md "Tokens"). An access token expires `--token-lifetime-days` after
-- `issued_at`; a token issued before this migration has none and gets one at its first use
-- (the lifetime counts from then). A refresh token is single use: `used_at` marks one that
-- was exchanged, and presenting it again revokes its device. A look-up table, as
-- device_tokens: keyed by what is looked up (the token's hash).
ALTER TABLE device_tokens ADD COLUMN issued_at BIGINT;

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_by_device ON refresh_tokens (device_id);
