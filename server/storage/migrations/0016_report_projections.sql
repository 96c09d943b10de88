-- Reports (docs/reports.md): two more projections (sync/merge/projections.py) and the
-- indexes the report queries read by. Learner tables, keyed by the learner first.
--
-- milestone_progress: one row per milestone of each path a learner enrolled in, with the
-- times progress velocity and "stuck on a milestone" are measured from.
CREATE TABLE milestone_progress (
    user_id TEXT NOT NULL,
    learning_path_id TEXT NOT NULL,
    milestone_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    module_id TEXT,
    status TEXT NOT NULL,
    unlocked_at BIGINT,
    started_at BIGINT,
    completed_at BIGINT,
    PRIMARY KEY (user_id, learning_path_id, milestone_id)
);
-- objective_progress: one row per objective of each course a learner started.
CREATE TABLE objective_progress (
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    objective_id TEXT NOT NULL,
    mastered BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, course_id, objective_id)
);

-- A report reads one course's (one path's) rows of every learner in its scope: by the
-- course first, then the learner (the primary keys start with the learner).
CREATE INDEX course_progress_by_course ON course_progress (course_id, user_id);
CREATE INDEX module_progress_by_course ON module_progress (course_id, module_id, user_id);
CREATE INDEX lesson_progress_by_course ON lesson_progress (course_id, user_id);
CREATE INDEX learning_path_progress_by_path ON learning_path_progress (learning_path_id, user_id);
CREATE INDEX milestone_progress_by_path ON milestone_progress (learning_path_id, user_id);
CREATE INDEX objective_progress_by_course ON objective_progress (course_id, user_id);
CREATE INDEX user_competencies_by_competency ON user_competencies (competency_id, user_id);

-- Learners from before: their new rows are written from their stored state at open.
INSERT INTO pending_work (name) VALUES ('projections') ON CONFLICT DO NOTHING;
