"""Handler plumbing shared by every Code Stream Jupyter route: JSON bodies and logging over the
contract's JSON and error shape (``web.core.ContractJSON``, shared with the standalone relay)."""

from __future__ import annotations

import logging

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..domain import CodeStreamError
from ..web.core import MAX_JSON_BODY_BYTES, ContractJSON, json_object  # noqa: F401 (the limit, re-exported)



class CodeStreamHandler(ContractJSON, APIHandler):
    """Base of every Code Stream API handler."""

    auth_resource = "codestream"
    owner: str | None = None  # whose sessions the teacher routes act on (initialize(owner=...))

    def initialize(self, **services):
        for name, value in services.items():
            setattr(self, name, value)

    @property
    def cs_log(self) -> logging.Logger:
        return self.log.getChild("codestream") if hasattr(self.log, "getChild") else self.log

    def json_body(self) -> dict:
        return json_object(self.request.body or b"")


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

