-- Progress as tables (sync/projections.py), named after the seeds' models and keyed by the
-- learner first: a cache of the feed like user_state, written by the merge in its
-- transaction. The store fills them for existing learners when it opens (pending_work).

CREATE TABLE lesson_progress (
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    lesson_id TEXT NOT NULL,
    module_id TEXT,
    status TEXT NOT NULL,
    percent_complete DOUBLE PRECISION,
    time_spent BIGINT,
    last_position BIGINT,
    completion_criteria TEXT,
    started_at BIGINT,
    completed_at BIGINT,
    last_activity_at BIGINT,
    PRIMARY KEY (user_id, course_id, lesson_id)
);
CREATE TABLE module_progress (
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    module_id TEXT NOT NULL,
    status TEXT NOT NULL,
    percent_complete DOUBLE PRECISION,
    total_lessons INTEGER,
    completed_lessons INTEGER,
    total_quizzes INTEGER,
    completed_quizzes INTEGER,
    total_assignments INTEGER,
    completed_assignments INTEGER,
    started_at BIGINT,
    completed_at BIGINT,
    PRIMARY KEY (user_id, course_id, module_id)
);
CREATE TABLE course_progress (
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    status TEXT NOT NULL,
    percent_complete DOUBLE PRECISION,
    total_modules INTEGER,
    completed_modules INTEGER,
    total_lessons INTEGER,
    completed_lessons INTEGER,
    total_quizzes INTEGER,
    completed_quizzes INTEGER,
    total_assignments INTEGER,
    completed_assignments INTEGER,
    started_at BIGINT,
    completed_at BIGINT,
    PRIMARY KEY (user_id, course_id)
);
CREATE TABLE quiz_attempts (
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    quiz_id TEXT NOT NULL,
    attempt_id TEXT NOT NULL,
    module_id TEXT,
    status TEXT NOT NULL,
    attempt_number INTEGER,
    score DOUBLE PRECISION,
    passed BOOLEAN,
    counted BOOLEAN,
    submitted_at BIGINT,
    PRIMARY KEY (user_id, course_id, quiz_id, attempt_id)
);
CREATE TABLE learning_path_progress (
    user_id TEXT NOT NULL,
    learning_path_id TEXT NOT NULL,
    status TEXT NOT NULL,
    percent_complete DOUBLE PRECISION,
    total_milestones INTEGER,
    completed_milestones INTEGER,
    enrolled_at BIGINT,
    completed_at BIGINT,
    PRIMARY KEY (user_id, learning_path_id)
);
CREATE TABLE user_competencies (
    user_id TEXT NOT NULL,
    competency_id TEXT NOT NULL,
    level INTEGER,
    status TEXT NOT NULL,
    acquired_at BIGINT,
    PRIMARY KEY (user_id, competency_id)
);

-- Work the store does in Python after the SQL steps, once, then deletes.
CREATE TABLE pending_work (name TEXT PRIMARY KEY);
INSERT INTO pending_work (name) VALUES ('projections');
