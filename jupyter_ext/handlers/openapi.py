"""Serves the machine-readable contract shipped in the package."""

from __future__ import annotations

from importlib.resources import files

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import CodeStreamHandler


def openapi_document() -> str:
    return files("jupyter_ext").joinpath("openapi.json").read_text(encoding="utf-8")


class OpenAPIHandler(CodeStreamHandler):
    @web.authenticated
    @authorized
    async def get(self):
        self.set_header("Content-Type", "application/json")
        self.finish(openapi_document())


def openapi_handlers(**services) -> list[tuple]:
    return [(r"codestream/api/openapi.json", OpenAPIHandler, services)]
