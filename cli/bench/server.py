"""A real ``waymark serve`` subprocess on 127.0.0.1, one per run."""

from __future__ import annotations

import collections
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
PROFILE_ENV = "WAYMARK_BENCH_PROFILE"
"""A folder: every server the bench starts runs under cProfile and writes
``server-N.prof`` there when it stops (docs/performance.md, "Profiling")."""


class ServerProcess:
    """``waymark serve --db URL --port 0``; ready once it prints its address. Its output
    keeps being read (the last lines are kept for error messages)."""

    command = (sys.executable, "-m", "cli.main", "serve")
    started = itertools.count(1)

    def __init__(self, db: str, env: dict[str, str] | None = None) -> None:
        self.output: collections.deque[str] = collections.deque(maxlen=20)
        command = list(self.command)
        profiles = os.environ.get(PROFILE_ENV)
        if profiles:
            # A developer's look inside: each server under cProfile, its profile written
            # when it stops (SIGTERM drains and exits normally).
            out = Path(profiles) / f"server-{next(self.started)}.prof"
            command[1:2] = ["-m", "cProfile", "-o", str(out), "-m"]
        self.proc = subprocess.Popen(
            [*command, "--db", db, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        url = None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        if url is None:
            self.proc.wait()
            self.proc.stdout.close()
            raise click.ClickException(f"bench: the server did not start: {self.last_words()}")
        self.url = url
        self.ws_url = url.replace("http://", "ws://") + "/v1/sync"
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())

    def last_words(self) -> str:
        lines = [line for line in self.output if line.strip()]
        return lines[-1] if lines else "no output"

    def rss_mb(self) -> float | None:
        """The server's resident memory now, in MiB (``/proc``; None where there is none)."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(found.group(1)) / 1024 if found else None

    def cpu_seconds(self) -> float | None:
        """The server's CPU time so far, user + system, in seconds (``/proc``; None where
        there is none)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        # After the command name: state is field 3, utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "_drain"):
            self._drain.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
