#!/usr/bin/env bash
# The one test command (README "Quick start"; CI runs it through .ci/run).
#
#   bash tests/check.sh [PYTEST ARGS...]
#
# Creates .venv if it is missing, installs Waymark with its test extras, then runs the
# gates in order and stops at the first that fails, exiting with that gate's code:
# ruff format --check, ruff check, mypy, lint-imports, merge branch coverage (sync/merge/batch.py
# fully branch-covered by tests/sync/merge/test_merge.py alone), pytest. Extra arguments go to pytest.
# PostgreSQL tests use WAYMARK_TEST_PG (a URL); without it, or when the server cannot be
# reached, they are reported as not run (and fail when CI is set); the Redis fan-out tests
# likewise with WAYMARK_TEST_REDIS (default redis://127.0.0.1:6379/0).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PIP_DISABLE_PIP_VERSION_CHECK=1

header() {
    printf '\n==> %s\n' "$*"
}

# Run one gate; on failure say which one and exit with its code.
step() {
    local name=$1
    shift
    header "$name"
    local rc=0 start=$SECONDS
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\n*** FAILED: %s (exit %d)\n' "$name" "$rc" >&2
        exit "$rc"
    fi
    printf '    ok (%ds)\n' "$((SECONDS - start))"
}

if [ ! -x .venv/bin/python ]; then
    header "creating .venv with $(command -v python3) ($(python3 --version 2>&1))"
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "*** Waymark needs Python 3.11 or newer as python3" >&2
        exit 1
    fi
    python3 -m venv .venv
fi
VENV_BIN=$PWD/.venv/bin
export PATH="$VENV_BIN:$PATH"

step "pip install -e '.[test]'" "$VENV_BIN/python" -m pip install -q -e '.[test]'
step "ruff format --check ." "$VENV_BIN/ruff" format --check .
step "ruff check ." "$VENV_BIN/ruff" check .
step "mypy" "$VENV_BIN/mypy"
step "lint-imports" "$VENV_BIN/lint-imports"
step "merge branch coverage" "$VENV_BIN/python" -m pytest -q -p no:cacheprovider tests/sync/merge/test_merge.py --cov=sync.merge.batch --cov-branch --cov-fail-under=100 --cov-report=term-missing:skip-covered

header "pytest -q $*"
rc=0
"$VENV_BIN/python" -m pytest -q "$@" || rc=$?
case $rc in
    0) printf '\n==> all checks passed\n' ;;
    5) printf '\n*** FAILED: pytest collected no tests (exit 5); that counts as a failure\n' >&2 ;;
    *) printf '\n*** FAILED: pytest (exit %d)\n' "$rc" >&2 ;;
esac
exit "$rc"
