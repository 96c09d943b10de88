"""The parent's side of a bench helper process that talks in lines on stdin/stdout."""

from __future__ import annotations

import subprocess
import sys

from cli.bench.server import ROOT
from cli.bench.wire import BenchError


class ChildProcess:
    """``python -c CODE`` (stderr folded into stdout): send lines, read lines."""

    def __init__(self, code: str, what: str) -> None:
        self.what = what
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            last = next((x for x in reversed(self.output) if x.strip()), "no output")
            raise BenchError(f"bench: the {self.what} stopped: {last}")
        self.output.append(line.rstrip())
        return line.strip()

    def _report(self) -> str:
        """Ask the child to stop; its ``done …`` line, without ``done ``."""
        self._send("stop")
        while not (line := self._line()).startswith("done "):
            pass
        self.close()
        return line.removeprefix("done ")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
