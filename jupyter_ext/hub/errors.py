"""The hub's own error codes (the contract's shape, ``{"error": {"code", "message"}}``)."""

from __future__ import annotations

from ..domain import CodeStreamError, InvalidInput


class HubUnavailable(CodeStreamError):
    """JupyterHub, or the codestream service, did not answer in time: a clear 503, not a hang."""

    status = 503
    code = "hub_unavailable"


class UnknownGroup(InvalidInput):
    code = "unknown_group"
