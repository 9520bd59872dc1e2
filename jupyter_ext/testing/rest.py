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


def save_like_jupyterlab(client: httpx.Client, path: str, content: dict, checkpoint: bool = True) -> httpx.Response:
    """What JupyterLab's Save (Ctrl+S) does: write the notebook, then create a checkpoint, the
    teacher's explicit save that publish on save follows. ``checkpoint=False`` is an autosave
    (the write alone). Asserts both answers; returns the write's."""
    written = client.put(f"api/contents/{path}", json={"type": "notebook", "format": "json", "content": content})
    assert written.status_code in (200, 201), written.text
    if checkpoint:
        created = client.post(f"api/contents/{path}/checkpoints")
        assert created.status_code == 201, created.text
    return written
