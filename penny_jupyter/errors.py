"""Penny's error hierarchy: every failure a caller can see has a code and a sentence.

The transports map `PennyError.status` to HTTP and send `code`/`message` on the socket;
nothing else about an exception ever reaches a client.
"""

from __future__ import annotations


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


class Unavailable(PennyError):
    code, status = "unavailable", 503


def rebuild(message: str, *, status: int | None = None, code: str | None = None,
            retry_after: float | None = None) -> PennyError:
    """The error a client of Penny's API (the kernel's RemoteSession) raises for `{"error": {code, message}}`:
    the class whose code matches, else the most general one for the HTTP status, else PennyError."""
    classes = [PennyError]
    for cls in classes:  # grows while iterating: every subclass, parents before children
        classes.extend(cls.__subclasses__())
    cls = next((c for c in classes if c.code == code), None) or \
        next((c for c in classes if c.status == status), PennyError)
    return cls(message, code=code, retry_after=retry_after)
