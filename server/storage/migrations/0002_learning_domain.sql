-- Learning domain: learner plans, and which courses and paths each learner has touched
-- (so that a catalog change recomputes only the learners it affects).
ALTER TABLE users ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';

CREATE TABLE user_scopes (
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    PRIMARY KEY (user_id, scope)
);
CREATE INDEX user_scopes_by_scope ON user_scopes (scope);
