-- Who may see whose reports (server/reports/scope.py, docs/reports.md "Who sees what"):
-- an instructor sees the learners of the groups they created or teach. A group's teachers
-- are instructors an admin or the group's creator added; a group may carry a due date
-- (YYYY-MM-DD) that predicted completion is measured against.
-- A global table, as learner_groups: not about one learner.
CREATE TABLE group_teachers (
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_teachers_by_user ON group_teachers (user_id);
ALTER TABLE learner_groups ADD COLUMN due TEXT;
