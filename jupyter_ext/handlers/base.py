"""Handler plumbing shared by every Code Stream Jupyter route: JSON bodies and logging over the
contract's JSON and error shape (``relay.core.ContractJSON``, shared with the standalone relay)."""

from __future__ import annotations

import json
import logging

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..domain import CodeStreamError, InvalidInput, PayloadTooLarge
from ..relay.core import ContractJSON

MAX_JSON_BODY_BYTES = 4 * 1024 * 1024


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

