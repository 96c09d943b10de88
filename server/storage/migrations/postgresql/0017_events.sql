-- The event catalog's names and the event stream's commit order (docs/events.md).
--
-- Four types take the catalog's (the seeds') names.
UPDATE outbox SET type = CASE type
        WHEN 'progress.quiz.scored' THEN 'progress.assessment.completed'
        WHEN 'progress.quiz.passed' THEN 'progress.assessment.passed'
        WHEN 'progress.quiz.failed' THEN 'progress.assessment.failed'
        WHEN 'progress.enrollment.changed' THEN
            CASE WHEN (body::json ->> 'from') IS NULL THEN 'progress.enrollment.created'
            ELSE 'progress.enrollment.status_changed' END
    END
WHERE type IN ('progress.quiz.scored', 'progress.quiz.passed', 'progress.quiz.failed',
    'progress.enrollment.changed');

-- Commit order across learners: concurrent transactions commit out of the order of any
-- number they take at insert, so each row carries its transaction's id (`tx`) and a
-- sequence number (`pos`), and the stream reads in (tx, pos) order only the rows whose tx
-- is below its snapshot's xmin (every transaction below it has ended; every one still
-- running has an id at or above it). Rows from before this step: tx 0, pos in recorded
-- order.
ALTER TABLE outbox ADD COLUMN pos BIGINT, ADD COLUMN tx xid8;
UPDATE outbox o SET pos = r.rn, tx = '0'
FROM (
    SELECT user_id, id, row_number() OVER (ORDER BY recorded_at, user_id, user_seq, n) AS rn
    FROM outbox
) r
WHERE o.user_id = r.user_id AND o.id = r.id;
CREATE SEQUENCE outbox_pos_seq OWNED BY outbox.pos;
SELECT setval('outbox_pos_seq', (SELECT coalesce(max(pos), 0) + 1 FROM outbox), false);
ALTER TABLE outbox
    ALTER COLUMN pos SET DEFAULT nextval('outbox_pos_seq'),
    ALTER COLUMN pos SET NOT NULL,
    ALTER COLUMN tx SET NOT NULL;

-- A learner's events in the learner's order: a transaction's id may be assigned before it
-- waits for the learner's row lock, so a row's tx is the larger of its own transaction's
-- id and the learner's highest tx so far (never below its own id: the stream's argument
-- holds).
CREATE FUNCTION outbox_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.tx := greatest(
        pg_current_xact_id(),
        (SELECT max(o.tx) FROM outbox o WHERE o.user_id = NEW.user_id)
    );
    RETURN NEW;
END
$$;
CREATE TRIGGER outbox_commit_order BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_commit_order();
CREATE INDEX outbox_by_commit ON outbox (tx, pos);
CREATE INDEX outbox_by_learner_tx ON outbox (user_id, tx);

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
