-- The outbox: domain events for other systems (lesson/module/course completed, progress
-- updated, quiz scored/passed/failed, enrollment changed, milestones, competencies,
-- achievements, certificates, levels), written in the merge's transaction. The id is
-- stable ("user_id:user_seq:n": the n-th event of the feed entry it follows from), and the key keeps
-- one copy of each. user_state.seen is the outbox's last look at the learner's progress;
-- NULL for progress from before this step (the store takes a look, announcing nothing).
CREATE TABLE outbox (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    user_seq BIGINT NOT NULL,
    n INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX outbox_by_recorded ON outbox (recorded_at);

ALTER TABLE user_state ADD COLUMN seen TEXT;
