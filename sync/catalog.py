"""The catalog: courses → modules → lessons, and each lesson's completion rule.

Load one with :func:`parse_catalog` (JSON, TOML or YAML, same keys; see ``docs/catalog.md``).
A malformed file is refused whole with :class:`~sync.errors.CatalogError` naming the location.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Annotated, Final, Literal

import msgspec

from sync.errors import CatalogError, split_validation_error

# `$(?!\n)`: see sync.hlc.HLC_PATTERN (a plain `$` accepts a trailing newline).
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$(?!\n)")]
Title = Annotated[str, msgspec.Meta(max_length=500)]
LessonKind = Literal["page", "video", "activity"]
FORMATS: Final = ("json", "toml", "yaml")


class CompletionRule(msgspec.Struct, frozen=True):
    """A parsed ``completion`` value: ``manual``, ``viewed``, ``watched:P`` or ``time:N``."""

    kind: Literal["manual", "viewed", "watched", "time"]
    threshold: int = 0

    @classmethod
    def parse(cls, text: str) -> CompletionRule:
        name, sep, arg = text.partition(":")
        if name in ("manual", "viewed") and not sep:
            return cls(name)  # type: ignore[arg-type]
        # isascii(): str.isdigit() is also true for "²", which int() refuses.
        if name in ("watched", "time") and arg.isascii() and arg.isdigit():
            value = int(arg)
            if name == "watched" and not 0 < value <= 100:
                raise ValueError(f"watched:P needs 0 < P <= 100, got {text!r}")
            if name == "time" and value <= 0:
                raise ValueError(f"time:N needs N > 0 seconds, got {text!r}")
            return cls(name, value)  # type: ignore[arg-type]
        raise ValueError(f"completion must be manual, viewed, watched:P or time:N, got {text!r}")


class Lesson(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Id
    title: Title = ""
    kind: LessonKind = "page"
    duration: Annotated[int, msgspec.Meta(ge=0, le=7 * 86400)] = 0
    completion: str = "manual"

    def __post_init__(self) -> None:
        rule = CompletionRule.parse(self.completion)
        if rule.kind == "watched" and self.duration == 0:
            raise ValueError(f"lesson {self.id!r}: completion {self.completion!r} needs a duration")

    @property
    def rule(self) -> CompletionRule:
        return CompletionRule.parse(self.completion)


class Module(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Id
    title: Title = ""
    lessons: list[Lesson] = []


class Course(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Id
    title: Title = ""
    modules: list[Module] = []

    def __post_init__(self) -> None:
        _unique(f"course {self.id!r}: module", [m.id for m in self.modules])
        _unique(f"course {self.id!r}: lesson", [x.id for m in self.modules for x in m.lessons])


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    courses: list[Course] = []

    def __post_init__(self) -> None:
        _unique("course", [c.id for c in self.courses])

    @property
    def version(self) -> str:
        """A content hash: equal catalogs have equal versions."""
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()[:16]

    def course(self, course_id: str) -> Course | None:
        return _index(self).courses.get(course_id)

    def lesson(self, course_id: str, lesson_id: str) -> Lesson | None:
        return _index(self).lessons.get((course_id, lesson_id))


class _Index:
    def __init__(self, catalog: Catalog) -> None:
        self.courses = {c.id: c for c in catalog.courses}
        self.lessons = {
            (c.id, lesson.id): lesson
            for c in catalog.courses
            for m in c.modules
            for lesson in m.lessons
        }


_INDEXES: dict[int, tuple[Catalog, _Index]] = {}


def _index(catalog: Catalog) -> _Index:
    # Catalogs are frozen, so an index built once stays true; keyed by id() with the
    # catalog kept alive beside it so the id cannot be reused while cached.
    hit = _INDEXES.get(id(catalog))
    if hit is None or hit[0] is not catalog:
        if len(_INDEXES) > 64:
            _INDEXES.clear()
        hit = (catalog, _Index(catalog))
        _INDEXES[id(catalog)] = hit
    return hit[1]


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} id {item!r} appears twice")
        seen.add(item)


def parse_catalog(data: bytes | str, fmt: str, *, source: str = "catalog") -> Catalog:
    """Decode and validate a catalog in ``fmt`` (``json``, ``toml`` or ``yaml``).

    Raises :class:`CatalogError` with ``source``, the ``$.path`` and the problem.
    """
    raw = data.encode() if isinstance(data, str) else data
    try:
        if fmt == "json":
            return msgspec.json.decode(raw, type=Catalog)
        if fmt == "toml":
            return msgspec.toml.decode(raw, type=Catalog)
        if fmt == "yaml":
            return msgspec.yaml.decode(raw, type=Catalog)
    except msgspec.ValidationError as err:
        problem, path = split_validation_error(err)
        raise CatalogError(f"{source}: {problem} - at `{path}`") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        # msgspec.toml.decode() decodes bytes as UTF-8 itself and lets UnicodeDecodeError out.
        raise CatalogError(f"{source}: not valid {fmt.upper()}: {err}") from None
    raise CatalogError(f"{source}: unknown catalog format {fmt!r} (use one of {FORMATS})")


def format_for(filename: str) -> str:
    """Return the catalog format for a file name by its extension."""
    # PurePath: a name without an extension ("yaml", "catalog") has none, not itself.
    suffix = PurePath(filename).suffix
    fmt = {".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}.get(suffix.lower())
    if fmt is None:
        raise CatalogError(
            f"{filename}: unknown catalog extension {suffix or '(none)'} (json, toml, yaml)"
        )
    return fmt


def catalog_to_builtins(catalog: Catalog) -> dict[str, object]:
    """Plain data for sending a catalog to a device."""
    out = msgspec.to_builtins(catalog)
    assert isinstance(out, dict)
    return out


def catalog_from_builtins(data: object) -> Catalog:
    """Inverse of :func:`catalog_to_builtins`; raises :class:`CatalogError`."""
    try:
        return msgspec.convert(data, Catalog)
    except msgspec.ValidationError as err:
        problem, path = split_validation_error(err)
        raise CatalogError(f"catalog: {problem} - at `{path}`") from None
