"""Figures out of per-run results: medians, spreads, the JSON object and the table."""

from __future__ import annotations

import statistics
from typing import Any

from rich.table import Table

from cli.bench.scenarios import Result


def _range(values: list[float]) -> list[float]:
    return [min(values), max(values)]


def summary(result: Result, db: str, baseline: str) -> dict[str, Any]:
    """The scenario's JSON object: medians over the runs, ``…_range`` = [min, max]."""
    e2e, base = statistics.median(result.e2e), statistics.median(result.base)
    out: dict[str, Any] = {
        "name": result.name,
        "events": result.events,
        "events_per_s": e2e,
        "baseline_per_s": base,
        "ratio": e2e / base,
        "db": db,
        "baseline": "the same push on an empty history"
        if result.name == "long-history"
        else baseline,
        "runs": len(result.e2e),
        "events_per_s_range": _range(result.e2e),
        "baseline_per_s_range": _range(result.base),
        "ratio_range": _range([e / b for e, b in zip(result.e2e, result.base, strict=True)]),
    }
    for key, values in (*result.latency.items(), *result.extra.items()):
        out[key] = statistics.median(values)
    for key, values in result.latency.items():
        out[f"{key}_range"] = _range(values)
    out.update(result.fields)
    return out


def _num(value: float) -> str:
    return f"{value:,.0f}" if value < 10_000 else f"{value / 1000:,.0f}k"


def _rate(median: float, spread: list[float]) -> str:
    return f"{_num(median)}\n[dim]{_num(spread[0])}-{_num(spread[1])}[/dim]"


def table(figures: list[dict[str, Any]], title: str) -> Table:
    out = Table(title=title, title_justify="left")
    out.add_column("scenario", no_wrap=True)
    out.add_column("events", justify="right")
    out.add_column("end-to-end ev/s", justify="right")
    out.add_column("baseline ev/s", justify="right")
    out.add_column("ratio", justify="right")
    out.add_column("p50/p95/p99 ms", justify="right")
    for f in figures:
        latency = ""
        if "p50_ms" in f:
            low, high = f["p99_ms_range"]
            latency = (
                f"{f['p50_ms']:.1f}/{f['p95_ms']:.1f}/{f['p99_ms']:.1f}"
                f"\n[dim]p99 {low:.1f}-{high:.1f}[/dim]"
            )
        out.add_row(
            f["name"],
            f"{f['events']:,}",
            _rate(f["events_per_s"], f["events_per_s_range"]),
            _rate(f["baseline_per_s"], f["baseline_per_s_range"]),
            f"{f['ratio']:.3f}",
            latency,
        )
    return out


def notes(figures: list[dict[str, Any]]) -> list[str]:
    """What the columns mean, for the scenarios shown."""
    names = {f["name"] for f in figures}
    out = ["Each cell: the median of the runs, and under it the lowest-highest run."]
    throughput = names & {"one-learner", "many-learners", "live", "live-loaded"}
    if throughput:
        out.append(
            f"baseline ({', '.join(sorted(throughput))}): {figures[0]['baseline']},"
            " on the same database in the same run; ratio = end-to-end / baseline."
        )
    for f in figures:
        if f["name"] == "device":
            from cli.bench.device import device_note

            out.append(device_note(f))
        if f["name"] == "long-history":
            out.append(
                f"long-history: baseline = the same push on an empty history; ratio = rate on"
                f" {f['history']:,} events of history / rate on none."
            )
        if f["name"] == "live":
            out.append(
                "live: latency = push sent at device A → feed entry received at device B;"
                f" one event per push; baseline commit p50 {f['baseline_p50_ms']:.1f} ms."
            )
        if f["name"] == "overhead":
            off = ", ".join(f"{k}={v}" for k, v in f["baseline_env"].items())
            out.append(
                f"overhead: one-learner's push with metrics and request/merge logs on, against"
                f" the same server with {off};"
                f" ratio {f['ratio']:.3f} (target: at least 0.95, i.e. at most 5 % slower)."
            )
            if "cpu_ratio" in f:
                out.append(
                    f"overhead: the server's CPU per 1,000 events {f['cpu_ms_per_1k_on']:.0f} ms"
                    f" instrumented, {f['cpu_ms_per_1k_off']:.0f} ms without"
                    f" (x{f['cpu_ratio']:.3f}); runs alternate which arm goes first."
                )
        if f["name"] in ("report-course", "report-quiz"):
            what = "quiz report" if f["name"] == "report-quiz" else "course report"
            out.append(
                f"{f['name']}: a {what} over {f['learners']:,} learners x {f['lessons']} lessons"
                f" and {f['attempts']:,} quiz attempts, {f['requests']} GETs a run of a real"
                f" server ({f['bytes']:,.0f} bytes); ev/s = reports answered per second at the"
                f" median; baseline = one plain aggregate over the same rows in SQL"
                f" (p50 {f['baseline_p50_ms']:.1f} ms). Target: p99 under 1,000 ms."
            )
        if f["name"] == "login-flood":
            flood = f["flood"]
            answers = ", ".join(f"{n} x {code}" for code, n in flood["statuses"].items())
            out.append(
                f"login-flood: live latency while {flood['attempts_per_s']:,.0f} wrong-password"
                f" logins/s hit the server ({answers}); baseline = the same without the"
                f" flood (p99 {f['quiet_p99_ms']:.1f} ms): p99 is {f['p99_vs_quiet']:.2f}x"
                " the quiet one (target: at most 2x)."
            )
        if f["name"] == "live-loaded":
            load = f["load"]
            out.append(
                f"live-loaded: the same, with {load['active_learners']} active learners x 2"
                f" devices pushing one event every {load['push_interval_s']:g} s"
                f" ({load['events_per_s']:,.0f} events/s acked) and"
                f" {load['idle_connections']:,} idle connections."
            )
            if load.get("server_rss_mb") is not None:
                per = load.get("server_rss_kb_per_connection")
                out.append(
                    f"live-loaded: server memory (RSS) {load['server_rss_mb']:,.0f} MiB with"
                    f" every load connection open"
                    + (f", {per:,.0f} KiB more per connection than before the load" if per else "")
                    + "."
                )
            if load["failed_connections"] or load["errors"]:
                out.append(
                    f"[red]live-loaded: {load['failed_connections']} load connections failed,"
                    f" {load['errors']} load errors: {load['first_error']}[/red]"
                )
    return out
