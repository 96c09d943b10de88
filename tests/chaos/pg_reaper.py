"""Run one PostgreSQL postmaster as a child and reap every process it leaves behind.

``python -m tests.chaos.pg_reaper USER POSTGRES-ARGS...`` forks the postmaster (as USER
when run as root: PostgreSQL refuses root), makes itself the child subreaper, and waits for
every descendant to exit before it exits with the postmaster's status. Without it, a
postmaster killed with SIGKILL leaves its backends to exit as orphans, and on a machine
whose init does not reap (this one's does not) they stay zombies; a zombie holding the
old postmaster's pid would make the next start refuse the lock file.

The harness kills the postmaster by its pid, then waits for this process to end: once it
has, nothing of the old cluster is left, and the next start begins crash recovery.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    user, command = argv[0], argv[1:]
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    postmaster = os.fork()
    if postmaster == 0:
        if user and os.geteuid() == 0:
            entry = pwd.getpwnam(user)
            os.setgid(entry.pw_gid)
            os.initgroups(user, entry.pw_gid)
            os.setuid(entry.pw_uid)
        os.execv(command[0], command)
    status = 1
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            return status
        if pid == postmaster:
            status = os.waitstatus_to_exitcode(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
