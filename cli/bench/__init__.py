"""``waymark bench``: sync end to end through a real server, against the physical limit of
the durable write on the same database, in the same run (docs/performance.md)."""

from cli.bench.command import bench

__all__ = ["bench"]
