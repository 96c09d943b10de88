"""Request bodies decoded strictly: a JSON body becomes its msgspec Struct with msgspec's
strict rules, so ``{"opt_out": 0}`` for a ``bool`` or ``"5"`` for an ``int`` is a 400.

Litestar converts every handler argument with msgspec's *lax* mode (``strict=False``), which
is right for query strings and path segments (text on the wire) and wrong for JSON, where
``0`` and ``false`` are different values: a body the OpenAPI document calls invalid was
accepted. Litestar's extension point for how a body is decoded is a DTO; :class:`StrictBodies`
is a serialization plugin that gives every handler whose ``data`` is a Struct the
:class:`StrictStructDTO`, so new handlers are strict without declaring anything.

The body's OpenAPI schema is msgspec's own JSON Schema of the type (:func:`body_schema`): the
decoder's description of what it accepts, so the document and the server cannot disagree.
(Litestar's rendering drops constraints inside ``dict`` values and a ``minimum`` of 0 on an
optional field.) Extra rules a type cannot state go in ``msgspec.Meta(extra_json_schema=...)``
on the handler's ``data`` annotation.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any, TypeVar

import msgspec
from litestar.dto import MsgspecDTO
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Reference, Schema
from litestar.plugins import SerializationPlugin
from litestar.typing import FieldDefinition

T = TypeVar("T", bound="msgspec.Struct | Collection[msgspec.Struct]")


@functools.cache
def body_schema(annotation: Any) -> dict[str, Any]:
    """msgspec's JSON Schema of ``annotation``, its ``$defs`` inlined (a request body is a
    small tree of Structs, never recursive)."""
    schema = msgspec.json.schema(annotation)
    defs: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        found = {key: inline(value) for key, value in node.items() if key != "$ref"}
        if "$ref" in node:
            target = inline(defs[node["$ref"].rsplit("/", 1)[1]])
            assert not target.keys() & found.keys(), f"extra schema overlaps {node['$ref']}"
            found = {**target, **found}
        return found

    result: dict[str, Any] = inline(schema)
    return result


def _normalized(value: Any) -> Any:
    """``value`` with every integral float (``3.0``) as an int: JSON has one number type, and
    JSON Schema's ``integer`` accepts ``3.0``; a ``float`` field still takes the int.

    Raises :class:`ValueError` for text holding NUL (U+0000), which PostgreSQL cannot store:
    refused on every engine alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL (U+0000)")
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    if isinstance(value, dict):
        return {_normalized(key): _normalized(item) for key, item in value.items()}
    return value


def _issue(err: msgspec.ValidationError) -> dict[str, str]:
    """Litestar's shape of a validation issue (``message``, ``key``, ``source``), from
    msgspec's "Expected `bool`, got `int` - at `$.opt_out`"."""
    message, _, where = str(err).partition(" - at `$")
    key = where.rstrip("`").lstrip(".")
    return {"message": message, "key": key, "source": "body"} if key else {"message": message}


class StrictStructDTO(MsgspecDTO[T]):
    """Decodes a request's JSON body straight into the handler's ``data`` annotation, strictly.

    Used for request bodies only (never to encode a response); documented in OpenAPI by
    :func:`body_schema`. Raises Litestar's ``ValidationException`` (400, with the field in
    ``extra``) for a body that is not JSON or does not fit the type."""

    def decode_bytes(self, value: bytes) -> Any:
        handler = self.asgi_connection.route_handler
        assert handler.parsed_data_field is not None, "a DTO decodes only handlers with data"
        try:
            raw = _normalized(msgspec.json.decode(value))
            return msgspec.convert(raw, handler.parsed_data_field.raw, strict=True)
        except msgspec.ValidationError as err:
            raise ValidationException(
                detail=f"Validation failed for {self.asgi_connection.scope['method']} "  # type: ignore[typeddict-item]
                f"{self.asgi_connection.url.path}",
                extra=[_issue(err)],
            ) from None
        except msgspec.DecodeError as err:
            raise ValidationException(detail=f"the body is not JSON: {err}") from None
        except ValueError as err:
            raise ValidationException(detail=str(err)) from None

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:
        # Litestar offers a handler's data DTO for its return value too; responses are
        # encoded as they always were, so this DTO takes no return type.
        return False

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        return Schema(all_of=[body_schema(field_definition.raw)])  # type: ignore[list-item]


class StrictBodies(SerializationPlugin):
    """Gives every handler whose ``data`` is a msgspec Struct the :class:`StrictStructDTO`."""

    def supports_type(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(msgspec.Struct)

    def create_dto_for_type(self, field_definition: FieldDefinition) -> type[StrictStructDTO[Any]]:
        # A collection of Structs narrows the DTO by its element type (Litestar's rule).
        model = next(
            (
                t.annotation
                for t in field_definition.inner_types
                if t.is_subclass_of(msgspec.Struct)
            ),
            field_definition.annotation,
        )
        return StrictStructDTO[model]  # type: ignore[valid-type]
