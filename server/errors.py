"""Errors of the server, each mapped to one HTTP status (problem details) and one
WebSocket close code by :func:`http_status` / the sync shell.

::

    ServerError
     ├── StoreUnavailable    the database cannot be reached or opened         503
     ├── BadRequest          the request is malformed                          400
     │    ├── CatalogRejected a catalog file is malformed                     400
     │    └── CredentialError a token is not a credential we signed            400
     ├── Unauthorized        no or unknown credentials                          401
     ├── Forbidden           known credentials, not allowed                     403
     │    └── DeviceRevoked  the device's token was revoked                    403
     ├── NotFound            no such user / device / resource                   404
     └── Conflict            e.g. the user name is taken                        409
"""

from __future__ import annotations


class ServerError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StoreUnavailable(ServerError):
    status = 503
    title = "Store unavailable"


class BadRequest(ServerError):
    status = 400
    title = "Bad request"


class CatalogRejected(BadRequest):
    title = "Catalog rejected"


class Unauthorized(ServerError):
    status = 401
    title = "Unauthorized"


class Forbidden(ServerError):
    status = 403
    title = "Forbidden"


class DeviceRevoked(Forbidden):
    title = "Device revoked"


class NotFound(ServerError):
    status = 404
    title = "Not found"


class Conflict(ServerError):
    status = 409
    title = "Conflict"
