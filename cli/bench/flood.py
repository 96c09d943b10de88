"""A login flood for the ``login-flood`` scenario, in its own process (:func:`main`) so
the measuring process's event loop stays quiet.

It sends ``POST /v1/auth/login`` with wrong passwords at a steady rate, cycling through
the measured learner's name and names nobody has, from one address (as one attacker
does), each from a pool of worker threads. The parent sends one JSON line of
configuration on stdin, then ``stop``; the child prints ``ready`` once the first
``warmup`` attempts were answered (the throttle has seen the attack) and ``done {json}``
at the end: attempts, the rate achieved, and the count of each status answered.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cli.bench.child import ChildProcess
from cli.bench.wire import TIMEOUT

WORKERS = 32


def _attempt(url: str, name: str) -> int:
    body = json.dumps({"username": name, "password": "wrong", "device_name": "flood"})
    request = urllib.request.Request(
        f"{url}/v1/auth/login",
        data=body.encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0  # no answer at all


def _run(config: dict[str, Any]) -> None:
    url, rate, warmup = config["url"], float(config["rate"]), int(config["warmup"])
    names = [config["name"], *(f"nobody{i}" for i in range(7))]
    statuses: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()
    answered = threading.Event()
    stop = threading.Event()

    def one(n: int) -> None:
        status = _attempt(url, names[n % len(names)])
        with lock:
            statuses[status] += 1
            if sum(statuses.values()) >= warmup:
                answered.set()

    def pace(pool: ThreadPoolExecutor) -> int:
        began, sent = time.perf_counter(), 0
        while not stop.is_set():
            due = began + sent / rate
            if (wait := due - time.perf_counter()) > 0:
                stop.wait(wait)
                continue
            pool.submit(one, sent)
            sent += 1
        return sent

    with ThreadPoolExecutor(WORKERS) as pool:
        result: list[int] = []
        pacer = threading.Thread(target=lambda: result.append(pace(pool)), daemon=True)
        began = time.perf_counter()
        pacer.start()
        answered.wait()
        _say("ready")
        sys.stdin.readline()  # "stop"
        stop.set()
        pacer.join()
        seconds = time.perf_counter() - began
    report = {
        "attempts": result[0],
        "attempts_per_s": result[0] / seconds,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }
    _say("done " + json.dumps(report))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class FloodProcess(ChildProcess):
    """The flood's child process; blocks until it is ``ready``."""

    def __init__(self, url: str, name: str, rate: float, warmup: int = 25) -> None:
        super().__init__("from cli.bench.flood import main; main()", "login flood")
        config = {"url": url, "name": name, "rate": rate, "warmup": warmup}
        self._send(json.dumps(config))
        while self._line() != "ready":
            pass

    def stop(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self._report())
        return report


def main() -> None:
    """The child's entry point (run with ``-c``: ``-m`` would import this module twice)."""
    _run(json.loads(sys.stdin.readline()))
