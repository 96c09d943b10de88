-- Assessment and engagement reports (server/reports/quiz.py, engagement.py; docs/reports.md).
-- quiz_question_responses (seed QuizQuestionResponse) is a projection like quiz_attempts
-- (sync/merge/projections.py): one row per answered question of a scored attempt. The quiz
-- report reads one quiz's rows across learners: (course_id, quiz_id, question_id).
CREATE TABLE quiz_question_responses (
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    quiz_id TEXT NOT NULL,
    attempt_id TEXT NOT NULL,
    question_id TEXT NOT NULL,
    selected_options TEXT NOT NULL,
    correct BOOLEAN NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    time_spent BIGINT,
    answered_at BIGINT,
    PRIMARY KEY (user_id, course_id, quiz_id, attempt_id, question_id)
);
CREATE INDEX quiz_question_responses_by_question
    ON quiz_question_responses (course_id, quiz_id, question_id);
-- The quiz report reads one quiz's attempts across learners too.
CREATE INDEX quiz_attempts_by_quiz ON quiz_attempts (course_id, quiz_id);

-- Seconds of lesson time per learner, course and day (YYYY-MM-DD in the zone each event
-- reported, else the learner's), a cache of the feed like user_scopes: the merge adds each
-- lesson.progressed's seconds, rebuild and verify sum them from the feed again.
CREATE TABLE daily_time (
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    day TEXT NOT NULL,
    seconds BIGINT NOT NULL,
    PRIMARY KEY (user_id, course_id, day)
);
CREATE INDEX daily_time_by_course_day ON daily_time (course_id, day);

-- Learners from before: every cache rebuilt from their feed when the store opens (the
-- answers' device times and the dated seconds are in the feed, not in the stored state).
INSERT INTO pending_work (name) VALUES ('rebuild');
