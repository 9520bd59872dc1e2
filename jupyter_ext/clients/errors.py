"""The clients' one error boundary: what leaves ``clients/`` is a contract error, nothing else.

Like httpx's own ``map_exceptions``, a table maps the HTTP library's exceptions (and the SSE
parser's bound) to the domain's typed errors, each with a message a person can act on, so
services and dashboards never catch ``httpx`` types. A peer's own contract-shaped answer
(``{"error": {"code", "message"}}``) becomes the domain error of that code
(``domain.errors.error_for``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from ..domain import CodeStreamError, UpstreamError


def unreachable(message: str, status: int = 502, code: str = "unreachable") -> UpstreamError:
    return UpstreamError(message, code=code, status=status)


def timed_out(message: str, status: int = 504, code: str = "timeout") -> UpstreamError:
    return UpstreamError(message, code=code, status=status)


def bad_response(message: str) -> UpstreamError:
    return UpstreamError(message, code="bad_response", status=502)


def contract_error_of(body: object) -> tuple[str | None, str | None]:
    """``(code, message)`` of a contract error body, or ``(None, None)``."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return (str(error.get("code")) if error.get("code") else None,
                str(error.get("message")) if error.get("message") else None)
    return None, None


ExceptionMap = Mapping[type[BaseException], Callable[[BaseException], CodeStreamError]]


def most_specific(exc: BaseException, types) -> type | None:
    """Of ``types``, the most specific one ``exc`` is an instance of (None: none)."""
    best = None
    for from_type in types:
        if isinstance(exc, from_type) and (best is None or issubclass(from_type, best)):
            best = from_type
    return best


@contextmanager
def map_exceptions(mapping: ExceptionMap) -> Iterator[None]:
    """Re-raise an exception of a type in ``mapping`` (the most specific match wins) as the
    domain error it makes; contract errors pass as they are, anything else is a bug and passes."""
    try:
        yield
    except CodeStreamError:
        raise
    except Exception as exc:
        best = most_specific(exc, mapping)
        if best is None:
            raise
        raise mapping[best](exc) from None


__all__ = ["bad_response", "contract_error_of", "map_exceptions", "most_specific",
           "timed_out", "unreachable"]
