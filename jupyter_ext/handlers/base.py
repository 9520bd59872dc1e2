"""Handler plumbing shared by every Code Stream route: JSON bodies, and the one place where
typed errors become the contract's ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json
import logging
from http.client import responses

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..domain import CodeStreamError, InvalidInput, PayloadTooLarge

HTTP_ERROR_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "too_many_requests",
}
MAX_JSON_BODY_BYTES = 4 * 1024 * 1024


def contract_error(exc: BaseException | None, status: int) -> tuple[int, dict]:
    """Map any exception to ``(status, error object)``; unknown errors say nothing internal."""
    if isinstance(exc, CodeStreamError):
        return exc.status, exc.to_dict()
    if isinstance(exc, web.HTTPError):
        status = exc.status_code
        message = exc.log_message if exc.log_message and "%" not in exc.log_message else None
        if status == 403 and not message:
            message = "This route needs the Jupyter server's authentication (a token or a login)."
        if status == 404 and not message:
            message = "There is no such route."
        return status, {
            "code": HTTP_ERROR_CODES.get(status, "internal_error" if status >= 500 else "http_error"),
            "message": message or responses.get(status, "Request failed") + ".",
        }
    return 500, {"code": "internal_error",
                 "message": "The server failed to answer; the server log has the details."}


class ContractJSON:
    """JSON answers and contract-shaped errors for any tornado handler (Jupyter's or the relay's)."""

    def write_json(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, error = contract_error(exc, status_code)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and isinstance(exc, CodeStreamError):
            self.set_header("Retry-After", str(int(retry_after)))
        self.finish(json.dumps({"error": error}))


class CodeStreamHandler(ContractJSON, APIHandler):
    """Base of every Code Stream API handler."""

    auth_resource = "codestream"

    def initialize(self, **services):
        for name, value in services.items():
            setattr(self, name, value)

    @property
    def cs_log(self) -> logging.Logger:
        return self.log.getChild("codestream") if hasattr(self.log, "getChild") else self.log

    def json_body(self) -> dict:
        body = self.request.body or b""
        if len(body) > MAX_JSON_BODY_BYTES:
            raise PayloadTooLarge(f"The request body is larger than {MAX_JSON_BODY_BYTES} bytes.")
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidInput("The body must be a JSON object.")
        return data


    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, CodeStreamError):
            self.cs_log.info("codestream: %s %s -> %s %s", self.request.method,
                             self.request.path, value.status, value.code)
            return
        if isinstance(value, web.HTTPError) and value.status_code < 500:
            self.cs_log.info("codestream: %s %s -> %s", self.request.method,
                             self.request.path, value.status_code)
            return
        super().log_exception(typ, value, tb)


def bearer_credential(handler: web.RequestHandler) -> str | None:
    """The credential in ``Authorization: Bearer <key>`` (or ``token <key>``, as 1.x sent it)."""
    header = handler.request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None
