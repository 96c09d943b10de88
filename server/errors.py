"""Errors of the server. Each has an error ``code``; :data:`sync.errors.ERROR_CODES` maps
it to one HTTP status (problem details) and one WebSocket close code (the sync session).

::

    ServerError
     ├── StoreUnavailable    the database cannot be reached or opened         503
     ├── SettingsError       a bad setting (server.settings; one line at start) -
     ├── BadRequest          the request is malformed                          400
     │    ├── CatalogRejected a catalog file is malformed                     400
     │    └── CredentialError a token is not a credential we signed            400
     ├── Unauthorized        no or unknown credentials                          401
     │    └── TokenExpired   a device's access token outlived its lifetime     401
     ├── Forbidden           known credentials, not allowed                     403
     │    └── DeviceRevoked  the device's token was revoked                    403
     ├── NotFound            no such user / device / resource                   404
     ├── Conflict            e.g. the user name is taken                        409
     └── TooManyRequests     e.g. logins after repeated failures (Retry-After)  429
"""

from __future__ import annotations

from sync.errors import ERROR_CODES


class ServerError(Exception):
    code = "internal"
    status = ERROR_CODES[code].status
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StoreUnavailable(ServerError):
    code = "store_unavailable"
    status = ERROR_CODES[code].status
    title = "Store unavailable"


class BadRequest(ServerError):
    code = "bad_request"
    status = ERROR_CODES[code].status
    title = "Bad request"


class CatalogRejected(BadRequest):
    code = "catalog_rejected"
    status = ERROR_CODES[code].status
    title = "Catalog rejected"


class Unauthorized(ServerError):
    code = "unauthorized"
    status = ERROR_CODES[code].status
    title = "Unauthorized"


class TokenExpired(Unauthorized):
    """The access token is older than its lifetime: the device refreshes it
    (``POST /v1/auth/refresh``) and tries again."""

    code = "token_expired"
    status = ERROR_CODES[code].status
    title = "Unauthorized"


class Forbidden(ServerError):
    code = "forbidden"
    status = ERROR_CODES[code].status
    title = "Forbidden"


class DeviceRevoked(Forbidden):
    code = "device_revoked"
    status = ERROR_CODES[code].status
    title = "Device revoked"


class NotFound(ServerError):
    code = "not_found"
    status = ERROR_CODES[code].status
    title = "Not found"


class TooManyRequests(ServerError):
    """Refused for now; ``retry_after`` seconds from now it may succeed (``Retry-After``)."""

    code = "rate_limited"
    status = ERROR_CODES[code].status
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Conflict(ServerError):
    code = "conflict"
    status = ERROR_CODES[code].status
    title = "Conflict"
