"""Reading a teacher's answers within the student server's caps, and its errors as the contract's.

A teacher's server is not trusted: an answer is read as it arrives, within a size, a count of
JSON values and a depth; an event stream within a size per event; an error answer within a few
KiB. Every failure becomes a domain error with a message a student can act on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from ..domain import CellNotFound, SessionNotFound, TooManyRequests, Unauthorized, UpstreamError
from ..domain.errors import VersionNotFound
from ..domain.jsonlimits import JSONTooDeep, loads_bounded
from .bounded_json import BoundedJSONDecoder, JSONTooLarge
from .errors import bad_response, contract_error_of
from .sse import ServerSentEvent, SSEParser
from .transport import CHECK_URL

MAX_ERROR_BODY_BYTES = 64 * 1024  # a contract error is a few hundred bytes
ASK_FOR_KEY = "ask your teacher for the current key"


class TeacherAnswers:
    """What ``TeacherClient`` reads; it sets ``max_response_bytes``, ``max_response_values`` and
    ``max_event_bytes``."""

    max_response_bytes: int
    max_response_values: int
    max_event_bytes: int

    async def _read_json(self, response: httpx.Response) -> object:
        """The answer's JSON, decoded as it arrives within ``max_response_bytes``, a count of
        values and a depth (``BoundedJSONDecoder``): nothing but the value is ever held."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise bad_response(self._too_large())
        decoder, size = BoundedJSONDecoder(max_values=self.max_response_values), 0
        try:
            async for chunk in response.aiter_bytes():  # decoded as it streams: the cap holds for gzip too
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise bad_response(self._too_large())
                decoder.feed(chunk)
            return decoder.close()
        except JSONTooLarge:
            raise bad_response(f"The teacher's answer holds more than {self.max_response_values} JSON"
                               " values; ask your teacher to publish fewer or smaller cells.") from None
        except JSONTooDeep:
            raise bad_response("The teacher's answer nests deeper than any Code Stream answer; "
                               + CHECK_URL + ".") from None
        except ValueError:
            raise bad_response("The teacher's server did not answer with JSON; " + CHECK_URL + ".") from None

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """The raw answer (a lesson notebook passed on as it came), within ``max_response_bytes``."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise bad_response(self._too_large())
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():  # decoded as it streams: the cap holds for gzip too
            size += len(chunk)
            if size > self.max_response_bytes:
                raise bad_response(self._too_large())
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read_error_body(self, response: httpx.Response) -> bytes:
        """At most ``MAX_ERROR_BODY_BYTES`` of an error answer (its contract error, if any)."""
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk[:MAX_ERROR_BODY_BYTES - size])
            size += len(chunks[-1])
            if size >= MAX_ERROR_BODY_BYTES:
                break
        return b"".join(chunks)

    def _too_large(self) -> str:
        return (f"The teacher's answer is larger than {self.max_response_bytes} bytes; ask your"
                " teacher to publish fewer or smaller cells.")

    async def _events(self, response: httpx.Response, on_comment=None) -> AsyncIterator[ServerSentEvent]:
        """The stream's events, parsed as the bytes arrive, within ``max_event_bytes``."""
        parser = SSEParser(on_comment, max_line_bytes=self.max_event_bytes, max_event_bytes=self.max_event_bytes)
        async for chunk in response.aiter_bytes():  # identity only (checked): the raw bytes
            for event in parser.feed(chunk):  # SSETooLarge: see _reading_errors
                yield event

    async def _raise_for(self, response: httpx.Response, code: str | None, cell_id: str | None = None):
        status = response.status_code
        try:
            raw = await self._read_error_body(response)
            body = loads_bounded(raw) if raw else None
        except (ValueError, UpstreamError, httpx.HTTPError):  # a nested one is a ValueError too
            body = None
        error_code, _message = contract_error_of(body)
        if status in (401, 403):
            raise Unauthorized(f"The teacher's server refused the student key; {ASK_FOR_KEY}.")
        if status == 429:
            raise TooManyRequests("The teacher's server refused too many wrong keys from this"
                                  f" computer; wait a minute, then {ASK_FOR_KEY}.")
        if status == 404 and error_code == "cell_not_found":
            raise CellNotFound(f"Cell {cell_id} is not published in session {code} (any more);"
                               " refresh the list of cells.")
        if status == 404 and error_code == "version_not_found":
            raise VersionNotFound(f"The teacher's server no longer keeps that version of cell {cell_id}"
                                  " (only the last ones are kept).")
        if (status == 404 and error_code == "session_not_found") or error_code == "invalid_session_code":
            raise SessionNotFound(f"The teacher's server has no live session {code}; check the"
                                  " session code your teacher shows.")
        if status == 404:
            raise bad_response("There is no Code Stream teacher at that address; " + CHECK_URL
                               + " (it is the teacher's Jupyter server address, e.g. http://10.0.0.5:8888/).")
        if 300 <= status < 400:
            raise bad_response("The teacher's server redirected without a target; " + CHECK_URL + ".")
        if status >= 500:
            raise bad_response(f"The teacher's server failed ({status}); ask your teacher to check"
                               " their server, then try again.")
        raise bad_response(f"The teacher's server refused the request ({status}); " + CHECK_URL + ".")
