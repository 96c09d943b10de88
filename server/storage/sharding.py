"""How the schema shards by learner (Citus: ``docs/operations.md``).

Every table is one of three kinds, and a test holds the schema to it
(``tests/server/test_shard_ready.py``):

* a **learner table** is distributed by the learner (the column named here): every primary
  key and unique index includes that column, and every statement that touches it names
  the learner, so it runs on one node;
* a **look-up table** finds the learner from what a request knows (a user name, a device
  token or id, a certificate code): small, keyed by what is looked up, replicated to every
  node (a reference table);
* a **global table** is not about one learner (the catalog, groups, secrets, the schema's
  version): a reference table too.
"""

from __future__ import annotations

from typing import Final

LEARNER_TABLES: Final = {
    "users": "id",
    "user_state": "user_id",
    "devices": "user_id",
    "feed": "user_id",
    "outbox": "user_id",
    "user_scopes": "user_id",
    "points_ledger": "user_id",
    "user_badges": "user_id",
    "certificates": "user_id",
    "group_members": "user_id",
    "lesson_progress": "user_id",
    "module_progress": "user_id",
    "course_progress": "user_id",
    "quiz_attempts": "user_id",
    "quiz_question_responses": "user_id",
    "daily_time": "user_id",
    "learning_path_progress": "user_id",
    "user_competencies": "user_id",
    "milestone_progress": "user_id",
    "objective_progress": "user_id",
}
"""Table → the column that names its learner (the distribution column)."""

LOOKUP_TABLES: Final = frozenset(
    {
        "usernames",
        "device_tokens",
        "refresh_tokens",
        "web_sessions",
        "certificate_codes",
        "service_tokens",
    }
)
GLOBAL_TABLES: Final = frozenset(
    {
        "catalog",
        "learner_groups",
        "group_teachers",
        "server_secrets",
        "schema_version",
        "pending_work",
        "login_failures",
    }
)
