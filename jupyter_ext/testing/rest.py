"""The contract's teacher routes as one-line test steps (each asserts the contract's status)."""

from __future__ import annotations

import httpx


def create_session(client: httpx.Client, **body) -> dict:
    """POST a session as the teacher; asserts the contract's 201."""
    r = client.post("codestream/api/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def publish(client: httpx.Client, code: str, cell_id: str, source: str, position: float,
            cell_type: str = "code") -> dict:
    """PUT a cell as the teacher; asserts 200 and returns ``{"cell_id", "version", ...}``."""
    r = client.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                   json={"source": source, "cell_type": cell_type, "position": position})
    assert r.status_code == 200, r.text
    return r.json()
