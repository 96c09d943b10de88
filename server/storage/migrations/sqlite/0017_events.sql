-- The event catalog's names and the event stream's commit order (docs/events.md).
--
-- SQLite has one writer at a time, so an outbox position assigned at insert is commit
-- order: the outbox is rebuilt with `pos INTEGER PRIMARY KEY AUTOINCREMENT` (never reused,
-- kept by VACUUM), its old key a UNIQUE constraint, the rows numbered in the order they
-- were recorded. Four types take the catalog's (the seeds') names.
CREATE TABLE outbox_v17 (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    user_seq BIGINT NOT NULL,
    n INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    UNIQUE (user_id, id)
);
INSERT INTO outbox_v17 (user_id, id, user_seq, n, type, body, occurred_at, recorded_at)
SELECT user_id, id, user_seq, n,
    CASE type
        WHEN 'progress.quiz.scored' THEN 'progress.assessment.completed'
        WHEN 'progress.quiz.passed' THEN 'progress.assessment.passed'
        WHEN 'progress.quiz.failed' THEN 'progress.assessment.failed'
        WHEN 'progress.enrollment.changed' THEN
            CASE WHEN json_extract(body, '$.from') IS NULL THEN 'progress.enrollment.created'
            ELSE 'progress.enrollment.status_changed' END
        ELSE type
    END,
    body, occurred_at, recorded_at
FROM outbox ORDER BY recorded_at, user_id, user_seq, n;
DROP TABLE outbox;
ALTER TABLE outbox_v17 RENAME TO outbox;
CREATE INDEX outbox_by_recorded ON outbox (recorded_at);

-- Service tokens (docs/events.md "Service tokens"): other systems' credentials, with scopes
-- (space-separated), printed once and stored hashed like device tokens. A look-up table,
-- keyed by what is looked up (the token's hash). Revoked tokens stay, so that a revoked one
-- is told apart from an unknown one, and a name is never reused.
CREATE TABLE service_tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
