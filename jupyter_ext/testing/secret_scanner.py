"""The secret scanner: every credential a test run creates (Jupyter tokens, student keys) must
appear in no response, header or log line, except where the contract hands a key out."""

from __future__ import annotations

import re

import httpx

# Responses that hand a student key to the teacher by contract; everything else must not carry one.
KEY_ISSUING = re.compile(r"/codestream/api/sessions(/[^/]+/key)?/?$")
# The teacher's own list of sessions: its join links carry the keys the teacher's server kept
# (services/kept_keys.py); only the teacher is answered (a student key gets 401/403).
KEY_LISTING = re.compile(r"/codestream/api/sessions/?$")


class SecretScanner:
    """Collects every credential a test run creates and everything that must not contain one."""

    def __init__(self):
        self.secrets: set[str] = set()
        self.findings: list[str] = []

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 8:
            self.secrets.add(secret)

    def check_text(self, where: str, text: str) -> None:
        for secret in self.secrets:
            if secret in text:
                self.findings.append(f"{where} contains a credential ({secret[:3]}…)")

    def record_response(self, response: httpx.Response) -> None:
        path = response.request.url.path
        if "text/event-stream" in response.headers.get("content-type", ""):
            return
        issuing = response.request.method == "POST" and KEY_ISSUING.search(path) and response.status_code < 300
        listing = response.request.method == "GET" and KEY_LISTING.search(path) and response.status_code < 300
        body = "" if issuing or listing else response.text
        for key_name in ("student_key",):
            if issuing:
                try:
                    self.add(response.json().get(key_name))
                except ValueError:
                    pass
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.check_text(f"{response.request.method} {path} response", headers + "\n" + body)


def scanned_client(base_url: str, headers: dict, scanner: SecretScanner | None,
                   timeout: float = 15.0) -> httpx.Client:
    """An httpx client whose every response (event streams excepted) goes past ``scanner``."""
    hooks = {}
    if scanner is not None:
        def record(response: httpx.Response):
            if "text/event-stream" not in response.headers.get("content-type", ""):
                response.read()
            scanner.record_response(response)
        hooks = {"response": [record]}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, event_hooks=hooks)
