-- Every user has a user_state row from creation on: it is the learner's row, which every
-- write of the learner locks (SELECT … FOR UPDATE: a row lock works on any node of a
-- sharded database, an advisory lock on one only), and its through_seq is the feed head
-- (users.feed_head was always equal to it; dropping it saves a write per merge).
INSERT INTO user_state (user_id, through_seq, state, gamify, seen, updated_at)
SELECT id, 0, '{}', '{}', '{}', created_at FROM users
WHERE id NOT IN (SELECT user_id FROM user_state);
ALTER TABLE users DROP COLUMN feed_head;
