"""Typed errors that map one-to-one onto the contract's error codes.

Handlers turn these into ``{"error": {"code", "message"}}`` in one place; nothing
below the Jupyter glue knows about HTTP beyond the status number carried here.
Messages never contain a credential.
"""

from __future__ import annotations


class CodeStreamError(Exception):
    """Base class: ``status`` and ``code`` are what the HTTP contract answers."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class InvalidInput(CodeStreamError):
    status = 400
    code = "invalid_input"


class InvalidSessionCode(InvalidInput):
    code = "invalid_session_code"


class InvalidCellId(InvalidInput):
    code = "invalid_cell_id"


class InvalidUrl(InvalidInput):
    code = "invalid_url"


class PayloadTooLarge(CodeStreamError):
    status = 413
    code = "payload_too_large"


class Unauthorized(CodeStreamError):
    status = 401
    code = "unauthorized"


class Forbidden(CodeStreamError):
    status = 403
    code = "forbidden"


class NotFound(CodeStreamError):
    status = 404
    code = "not_found"


class SessionNotFound(NotFound):
    code = "session_not_found"


class CellNotFound(NotFound):
    code = "cell_not_found"


class NotConfigured(NotFound):
    code = "not_configured"


class NotebookNotFound(NotFound):
    code = "notebook_not_found"


class VersionNotFound(NotFound):
    """A past version no longer kept (only the last ones of each cell are), or never made."""

    code = "version_not_found"


class MergeConflict(CodeStreamError):
    """An apply of a merge whose conflicts were not resolved: nothing was changed."""

    status = 409
    code = "merge_conflict"


class TooManyRequests(CodeStreamError):
    status = 429
    code = "too_many_requests"


class TooManyStreams(CodeStreamError):
    """A stream cap is reached (``max_streams_per_session`` / ``max_streams``); open streams go on.

    ``retry_after`` (seconds) becomes the answer's ``Retry-After`` header.
    """

    status = 503
    code = "too_many_streams"
    retry_after = 30


class StoreUnavailable(CodeStreamError):
    """Redis could not be reached; the operator (or the embedded server) must bring it back."""

    status = 503
    code = "store_unavailable"


class UpstreamError(CodeStreamError):
    """The teacher's server failed a proxied request (student side)."""

    status = 502
    code = "bad_response"


def error_for(status: int, code: str, message: str) -> CodeStreamError:
    """The typed error of a contract answer ``{"error": {code, message}}``: its type by code
    (``CodeStreamError`` for a code without one), the answer's status kept."""
    error_type = ERROR_TYPES.get(code, CodeStreamError)
    return error_type(message, code=code, status=status)


def _codes(*types: type[CodeStreamError]) -> dict[str, type[CodeStreamError]]:
    return {error.code: error for error in types}


# A contract error code -> the type that carries it (UpstreamError's codes are the student side's own).
ERROR_TYPES = _codes(InvalidInput, InvalidSessionCode, InvalidCellId, InvalidUrl, PayloadTooLarge,
                     Unauthorized, Forbidden, NotFound, SessionNotFound, CellNotFound, NotConfigured,
                     NotebookNotFound, TooManyRequests, StoreUnavailable, VersionNotFound, MergeConflict)
