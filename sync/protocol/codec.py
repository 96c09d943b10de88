"""One codec per wire format: binary frames carry msgpack, text frames JSON, same schema.

Encoders and decoders are built once (msgspec's advice) and shared.
"""

from __future__ import annotations

from typing import Final

import msgspec

from sync.errors import DecodeError, split_validation_error
from sync.protocol.messages import ClientMessage, ServerMessage

Frame = bytes | str

PING_INTERVAL_S: Final = (20.0, 30.0)
"""A client pings every 20 to 30 seconds, the interval drawn at random for each connection
(``client.connection.ping_interval``): the server sends no pings of its own
(docs/protocol.md §3), and devices that all reconnected together (after a server restart)
must not keep pinging in step for ever."""


CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL: Final = 1011
CLOSE_BAD_MESSAGE: Final = 4400
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_UNSUPPORTED_PROTOCOL: Final = 4406
CLOSE_BATCH_TOO_LARGE: Final = 4413

_json_enc = msgspec.json.Encoder()
_mp_enc = msgspec.msgpack.Encoder()
_client_json = msgspec.json.Decoder(ClientMessage)
_client_mp = msgspec.msgpack.Decoder(ClientMessage)
_server_json = msgspec.json.Decoder(ServerMessage)
_server_mp = msgspec.msgpack.Decoder(ServerMessage)


def encode(msg: ClientMessage | ServerMessage, *, binary: bool) -> Frame:
    """Encode ``msg`` as a binary (msgpack) or text (JSON) frame."""
    if binary:
        return _mp_enc.encode(msg)
    return _json_enc.encode(msg).decode()


def _decode(frame: Frame, json_dec: msgspec.json.Decoder, mp_dec: msgspec.msgpack.Decoder):  # type: ignore[type-arg, no-untyped-def]
    try:
        if isinstance(frame, str):
            return json_dec.decode(frame)
        return mp_dec.decode(frame)
    except msgspec.ValidationError as err:
        problem, path = split_validation_error(err)
        raise DecodeError(
            "bad_message", f"invalid message: {problem}", CLOSE_BAD_MESSAGE, path
        ) from None
    except (msgspec.DecodeError, UnicodeEncodeError) as err:
        # UnicodeEncodeError: a str holding lone surrogates cannot be re-encoded as UTF-8.
        kind = "JSON" if isinstance(frame, str) else "msgpack"
        raise DecodeError("bad_frame", f"not {kind}: {err}", CLOSE_BAD_MESSAGE) from None


def decode_client(frame: Frame) -> ClientMessage:
    """Decode a device's frame; raises :class:`~sync.errors.DecodeError`."""
    msg: ClientMessage = _decode(frame, _client_json, _client_mp)
    return msg


def decode_server(frame: Frame) -> ServerMessage:
    """Decode a server's frame; raises :class:`~sync.errors.DecodeError`."""
    msg: ServerMessage = _decode(frame, _server_json, _server_mp)
    return msg
