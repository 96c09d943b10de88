"""Prometheus metrics: Litestar's plugin for the HTTP ones, Waymark's own here.

The names are a contract with the alert rules and dashboards (``docs/operations.md``,
"Metrics and logs"). Waymark's metrics live in a :class:`~prometheus_client.CollectorRegistry`
of each app, so several apps in one process (the tests make many) never clash; Litestar's
HTTP metrics are the process's (its middleware keeps them in the default registry), and
``GET /metrics`` serves both.

The hot path only increments: a merge adds to a few counters picked by its outcome, never
a label per learner or event. What needs a query or a look at the pools (learners stuck
on a milestone, connections checked out, the fan-out's backlog) is computed when
``/metrics`` is scraped, in its handler, before the text is written: a collector's
``collect()`` is synchronous and must not block the event loop on SQL.

Make one :class:`Metrics` per app (``create_app``), set it as ``app.state.metrics``, and
route ``/metrics`` with :class:`MetricsController`.
"""

from __future__ import annotations

import hmac
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

import asyncpg
from litestar import Request, get
from litestar.enums import MediaType, ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.prometheus import (
    PrometheusConfig,
    PrometheusController,
    PrometheusMiddleware,
)
from litestar.response import Response
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from server.errors import StoreUnavailable
from server.logs import fields, status_of
from sync.protocol.messages import FeedEntry

if TYPE_CHECKING:
    from server.fanout import Hub
    from server.storage.merge import MergeResult
    from server.storage.store import Store

log = logging.getLogger("waymark.merge")

# No ``*_created`` series (a timestamp per series, which no rule uses): half the output.
disable_created_metrics()  # type: ignore[no-untyped-call]

STUCK_DAYS: Final = 7
"""``waymark_learners_stuck_on_milestone{days="7"}``: the seeds' "progress stagnation"."""
_DAY_MS: Final = 86_400_000
_IN_CLAUSE: Final = 500
LOGIN_REASONS: Final = ("wrong_password", "locked")
RATE_LIMIT_SCOPES: Final = ("login", "rest", "push", "connect")
_MERGE_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def prometheus_config() -> PrometheusConfig:
    """Litestar's HTTP metrics: ``waymark_requests_total`` and friends, by route template
    (``group_path``: a learner's name never becomes a label). HTTP only: a sync
    connection lasting an hour is not a slow request (``waymark_sync_connections``)."""
    return PrometheusConfig(
        app_name="waymark",
        prefix="waymark",
        group_path=True,
        scopes={ScopeType.HTTP},
        middleware_class=_PrometheusMiddleware,
    )


class _PrometheusMiddleware(PrometheusMiddleware):
    """Litestar's, except that a request refused by a middleware after it (the 401 of
    authentication) is counted with its status, not as a 200: the plugin reads the status
    from what passes its ``send``, and Litestar answers such errors outside it."""

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        inner = self.app

        async def noting_errors(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await inner(scope, receive, send)
            except Exception as exc:
                span = getattr(send, "span", None)
                if isinstance(span, dict):
                    span["status_code"] = status_of(exc)
                raise

        self.app = noting_errors

    def _get_wrapped_send(self, send: Send, request_span: dict[str, float]) -> Callable[..., Any]:
        wrapped = super()._get_wrapped_send(send, request_span)
        wrapped.span = request_span  # type: ignore[attr-defined]
        return wrapped


class Metrics:
    """Waymark's own metrics for one app, and the hooks that feed them."""

    def __init__(self, engine: str, *, token: str | None = None) -> None:
        self.engine = engine
        self.token = token or None  # an empty token is none: /metrics stays open
        self.registry = CollectorRegistry()
        r = self.registry
        self.merge_duration = Histogram(
            "waymark_merge_duration_seconds",
            "One merge (a push batch or a REST action): its transaction, commit included.",
            ["engine"],
            registry=r,
            buckets=_MERGE_BUCKETS,
        ).labels(engine)
        self.events = Counter(
            "waymark_events",
            "Events merged, by outcome (accepted, duplicate, rejected) and rejection code.",
            ["outcome", "code"],
            registry=r,
        )
        self.connections = Gauge(
            "waymark_sync_connections", "WebSocket sync connections open.", registry=r
        )
        self.fanout_lag = Histogram(
            "waymark_fanout_lag_seconds",
            "From a commit's hand-off to the fan-out to its entries sent to another device.",
            registry=r,
            buckets=_MERGE_BUCKETS,
        )
        self.logins_failed = Counter(
            "waymark_logins_failed", "Failed logins, by reason.", ["reason"], registry=r
        )
        self.rate_limited = Counter(
            "waymark_rate_limited", "Requests refused with 429, by scope.", ["scope"], registry=r
        )
        self.store_errors = Counter(
            "waymark_store_errors",
            "Database errors: unavailable, or a driver error that failed a request.",
            ["engine"],
            registry=r,
        ).labels(engine)
        self.enrollments = Counter(
            "waymark_enrollments",
            "Path enrollments decided (REST and synced), ok or failed (refused or rejected).",
            ["outcome"],
            registry=r,
        )
        self.submissions = Counter(
            "waymark_assessment_submissions",
            "Quiz attempt submissions decided (REST and synced): ok (scored and counted) "
            "or failed (over the attempt limit, in a cool-down, or rejected).",
            ["outcome"],
            registry=r,
        )
        self.scrape = ScrapeCollector(engine)
        r.register(self.scrape)
        # Every series the alerts divide by exists from the start, at zero.
        self._accepted = self.events.labels("accepted", "")
        self._duplicate = self.events.labels("duplicate", "")
        self._rejected: dict[str, Any] = {}
        for reason in LOGIN_REASONS:
            self.logins_failed.labels(reason)
        for scope in RATE_LIMIT_SCOPES:
            self.rate_limited.labels(scope)
        self._enrolled = {o: self.enrollments.labels(o) for o in ("ok", "failed")}
        self._submitted = {o: self.submissions.labels(o) for o in ("ok", "failed")}

    # -- hooks -------------------------------------------------------------------------------

    def merged(self, user_id: str, device_id: str, result: MergeResult, seconds: float) -> None:
        """A merge committed (``Store.on_merged``): count it and log its line."""
        self.merge_duration.observe(seconds)
        if result.accepted:
            self._accepted.inc(result.accepted)
        if result.duplicates:
            self._duplicate.inc(result.duplicates)
        for rejection in result.rejected:
            counter = self._rejected.get(rejection.code)
            if counter is None:  # codes are a fixed set (sync.errors): no label explosion
                counter = self._rejected[rejection.code] = self.events.labels(
                    "rejected", rejection.code
                )
            counter.inc()
        enrolled, submitted = decided(result.entries)
        for outcome, n in enrolled.items():
            self._enrolled[outcome].inc(n)
        for outcome, n in submitted.items():
            self._submitted[outcome].inc(n)
        log.info(
            "merge",
            extra=fields(
                learner=user_id,
                device=device_id,
                accepted=result.accepted,
                duplicates=result.duplicates,
                rejected=len(result.rejected),
                duration_ms=round(seconds * 1000, 2),
            ),
        )

    def login_failed(self, reason: str) -> None:
        self.logins_failed.labels(reason).inc()

    def limited(self, scope: str) -> None:
        """A request refused for a rate limit (429, or a sync refusal) in ``scope``."""
        self.rate_limited.labels(scope).inc()

    def store_error(self) -> None:
        self.store_errors.inc()

    async def after_exception(self, exc: Exception, scope: Scope) -> None:
        """Litestar's ``after_exception`` hook: database errors that failed a request."""
        if isinstance(exc, StoreUnavailable | sqlite3.Error | asyncpg.PostgresError):
            self.store_error()

    # -- /metrics ----------------------------------------------------------------------------

    def authorize(self, header: str | None) -> None:
        """Raise :class:`NotAuthorizedException` unless ``/metrics`` is open or ``header``
        is ``Bearer <the metrics token>``."""
        if self.token is None:
            return
        scheme, _, given = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        ):
            raise NotAuthorizedException(
                "send 'Authorization: Bearer <token>' with the metrics token "
                "(WAYMARK_METRICS_TOKEN)",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )

    def text(self) -> bytes:
        return generate_latest(self.registry)


def decided(entries: Iterable[FeedEntry]) -> tuple[dict[str, int], dict[str, int]]:
    """Enrollments and quiz submissions a merge decided, ``{"ok": n, "failed": m}`` each,
    read from the feed entries it wrote (the decisions and rejections of ``sync.merge``)."""
    enrolled: dict[str, int] = {}
    submitted: dict[str, int] = {}
    for entry in entries:
        if entry.origin != "server":
            continue
        body = entry.body
        match entry.type:
            case "enrollment.changed" if body.get("reason") == "enroll":
                enrolled["ok"] = enrolled.get("ok", 0) + 1
            case "enrollment.refused" if body.get("action") == "enroll":
                enrolled["failed"] = enrolled.get("failed", 0) + 1
            case "quiz.scored":
                outcome = "ok" if body.get("counted") else "failed"
                submitted[outcome] = submitted.get(outcome, 0) + 1
            case "event.rejected" if body.get("type") == "path.enrolled":
                enrolled["failed"] = enrolled.get("failed", 0) + 1
            case "event.rejected" if body.get("type") == "quiz.submitted":
                submitted["failed"] = submitted.get("failed", 0) + 1
    return enrolled, submitted


class ScrapeCollector(Collector):
    """Values computed by :meth:`refresh` (awaited in the ``/metrics`` handler), reported
    by :meth:`collect` without any I/O."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.stuck = 0
        self.in_use: dict[str, int] = {}
        self.backlog = 0

    async def refresh(self, store: Store, hub: Hub, now_ms: int) -> None:
        self.in_use = store.engine.in_use()
        self.backlog = hub.backlog()
        self.stuck = await stuck_learners(store, now_ms)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stuck = GaugeMetricFamily(
            "waymark_learners_stuck_on_milestone",
            "Learners whose current milestone of an active path was unlocked more than "
            "`days` days ago and is not completed (computed at scrape).",
            labels=["days"],
        )
        stuck.add_metric([str(STUCK_DAYS)], self.stuck)
        yield stuck
        pool = GaugeMetricFamily(
            "waymark_db_pool_in_use",
            "Database connections checked out (PostgreSQL: per pool; SQLite: 1 while its "
            "one writer is in a transaction).",
            labels=["engine", "pool"],
        )
        for name, n in self.in_use.items():
            pool.add_metric([self.engine, name], n)
        yield pool
        yield GaugeMetricFamily(
            "waymark_fanout_backlog",
            "Feed entries committed but not yet sent to a connected device of their learner.",
            value=self.backlog,
        )


async def stuck_learners(store: Store, now_ms: int, days: int = STUCK_DAYS) -> int:
    """How many learners have an active path (enrolled or in progress) whose current
    milestone was unlocked more than ``days`` days ago: the enrollment, or the completion of
    the milestone before it (milestones unlock in order), is older than that.

    Reads the projection tables (``learning_path_progress``, ``course_progress``,
    ``module_progress``); only enrollments older than ``days`` can qualify, so only those
    are looked at."""
    cutoff = now_ms - days * _DAY_MS
    rows = await store.engine.fetch(
        "SELECT user_id, learning_path_id, completed_milestones, enrolled_at"
        " FROM learning_path_progress"
        " WHERE status IN ('enrolled', 'in_progress') AND completed_at IS NULL"
        " AND enrolled_at < ?",
        cutoff,
    )
    if not rows:
        return 0
    catalog = await store.catalog()
    done_at = await _completions(store, sorted({str(r["user_id"]) for r in rows}))
    stuck: set[str] = set()
    for row in rows:
        path = catalog.path(str(row["learning_path_id"]))
        done = int(row["completed_milestones"] or 0)
        if path is None or done >= len(path.milestones):
            continue
        since = int(row["enrolled_at"])
        if done:
            before = path.ordered[done - 1]
            since = done_at.get((str(row["user_id"]), before.course, before.module), 0)
        if since < cutoff:
            stuck.add(str(row["user_id"]))
    return len(stuck)


async def _completions(store: Store, user_ids: list[str]) -> dict[tuple[str, str, str | None], int]:
    """When each of these learners completed each course and module (the milestones)."""
    out: dict[tuple[str, str, str | None], int] = {}
    for start in range(0, len(user_ids), _IN_CLAUSE):
        chunk = user_ids[start : start + _IN_CLAUSE]
        marks = ", ".join("?" * len(chunk))
        rows = await store.engine.fetch(
            "SELECT user_id, course_id, NULL AS module_id, completed_at FROM course_progress"
            f" WHERE completed_at IS NOT NULL AND user_id IN ({marks})"
            " UNION ALL"
            " SELECT user_id, course_id, module_id, completed_at FROM module_progress"
            f" WHERE completed_at IS NOT NULL AND user_id IN ({marks})",
            *chunk,
            *chunk,
        )
        for r in rows:
            module = None if r["module_id"] is None else str(r["module_id"])
            out[(str(r["user_id"]), str(r["course_id"]), module)] = int(r["completed_at"])
    return out


class MetricsController(PrometheusController):
    """``GET /metrics``: open, or behind ``Authorization: Bearer <metrics token>`` when one
    is set (``WAYMARK_METRICS_TOKEN``). Litestar's HTTP metrics, then Waymark's."""

    path = "/metrics"

    @get(exclude_from_auth=True, media_type=MediaType.TEXT)
    async def get(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        metrics: Metrics = request.app.state.metrics
        metrics.authorize(request.headers.get("authorization"))
        store: Store = request.app.state.store
        await metrics.scrape.refresh(store, request.app.state.hub, store.clock())
        http: Response[bytes] = await PrometheusController.get.fn(self)
        assert isinstance(http.content, bytes)
        return Response(http.content + metrics.text(), status_code=200, headers=http.headers)
