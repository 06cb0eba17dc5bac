"""Penny's error hierarchy: every failure a caller can see has a code and a sentence.

Every class lives here, so `rebuild` (the kernel's side) knows them all. `to_wire` is the one
mapping from any exception to what a client sees: an HTTP status and body (REST), the fields of
the socket's `error` event (protocol.ErrorEvent), and, read back by `rebuild`, the same class in
a kernel. Nothing else about
an exception ever reaches a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNEXPECTED = "Penny hit an unexpected error; it was logged on the server"


class PennyError(Exception):
    code = "internal"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.retry_after = retry_after

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class BadRequest(PennyError):
    code, status = "bad_request", 400


class InvalidParams(BadRequest):
    code = "invalid_params"


class Unauthorized(PennyError):
    code, status = "unauthorized", 401


class Forbidden(PennyError):
    code, status = "forbidden", 403


class NotFound(PennyError):
    """Unknown ids and other tenants' ids raise the same error with the same words."""

    code, status = "not_found", 404


class Conflict(PennyError):
    code, status = "conflict", 409


class TooLarge(PennyError):
    code, status = "too_large", 413


class RateLimited(PennyError):
    code, status = "rate_limited", 429


class ToolTimeout(PennyError):
    code, status = "timeout", 504


class MethodNotAllowed(PennyError):
    code, status = "method_not_allowed", 405


class Unavailable(PennyError):
    code, status = "unavailable", 503


class TransientError(Unavailable):
    """A failure worth trying again (a backend briefly away, a lock held elsewhere). A tool raises it to
    ask the executor to retry with backoff; anything else it raises is final."""

    code = "transient"


class ModelUnavailable(Unavailable):
    """The model could not answer (server down, model not pulled, timeout, stream broken, tool loop).
    The message is one sentence a person can act on; the turn falls back to the built-in router."""

    code = "model_unavailable"


class SourceUnavailable(Unavailable):
    """A tenant's own data cannot be read now (a file gone, a bucket unreachable)."""

    code = "source_unavailable"


class StoreUnavailable(Unavailable):
    """Penny's own database (app state: conversations, artifacts, audit) cannot be reached or refused for
    now: PostgreSQL down or restarting, a SQLite file locked too long. Nothing was half-written; retrying works
    once it is back, without restarting Penny."""

    code = "store_unavailable"
    MESSAGE = "Penny's database is not answering; try again in a moment"

    def __init__(self, message: str = MESSAGE, *, code: str | None = None, retry_after: float | None = 2):
        super().__init__(message, code=code, retry_after=retry_after)


class SourceConfigError(PennyError):
    """tenant_sources is wrong: the admin, not the caller, has to fix it."""

    code, status = "source_config", 500


class SqlRefused(InvalidParams):
    """A query run_sql will not run; the message says why and what to do instead."""

    code = "sql_refused"


class SqlError(PennyError):
    """A query that DuckDB could not run as written."""

    code, status = "sql_error", 400


class SandboxUnavailable(Unavailable):
    code = "sandbox_unavailable"


class SandboxLimit(PennyError):
    code, status = "sandbox_limit", 422


class CodeRaised(PennyError):
    """The person's (or the model's) code ran and raised: their error, at their line, not Penny's."""

    code, status = "code_raised", 422


@dataclass(frozen=True)
class WireError:
    """What a client is told about a failure, whichever way it asked."""

    status: int
    code: str
    message: str
    retry_after: float | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of an HTTP error reply."""
        return {"error": {"code": self.code, "message": self.message}}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(int(self.retry_after + 0.999))} if self.retry_after else {}


def to_wire(exc: BaseException | None = None, *, status: int | None = None, message: str | None = None) -> WireError:
    """The one mapping from a failure to what the client sees. A PennyError says its own status, code and
    sentence; an HTTP status without one (tornado's 404/405...) gets the code of the class for that
    status; anything else is an unexpected error, whose details stay in the server's log."""
    if isinstance(exc, PennyError):
        return WireError(exc.status, exc.code, exc.message, exc.retry_after)
    if status is not None:
        cls = next((c for c in _classes() if c.status == status), None)
        return WireError(status, cls.code if cls else "http_error", message or (cls.__name__ if cls else "request failed"))
    return WireError(500, "internal", UNEXPECTED)


def _classes() -> list[type[PennyError]]:
    """Every subclass, parents before children."""
    classes = [PennyError]
    for cls in classes:  # grows while iterating
        classes.extend(cls.__subclasses__())
    return classes


def rebuild(message: str, *, status: int | None = None, code: str | None = None,
            retry_after: float | None = None) -> PennyError:
    """The error a client of Penny's API (the kernel's RemoteSession) raises for `{"error": {code, message}}`:
    the class whose code matches, else the most general one for the HTTP status, else PennyError."""
    classes = _classes()
    cls = next((c for c in classes if c.code == code), None) or \
        next((c for c in classes if c.status == status), PennyError)
    return cls(message, code=code, retry_after=retry_after)
