"""Publish on save under a real JupyterHub (issue 20, part 2): the teacher saves through their
own single-user server, and every kind of change goes out (source, outputs of a cell published
"+ output", markdown) even when one cell of the same save fails; the failure is kept for the
teacher's dashboard, which shows what did not go out and why, and retries.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from codestream_dash.publish_failures import PublishFailuresNotice, failures_html
from jupyter_ext.clients.server import ServerClient
from jupyter_ext.pytest_plugin import wait_until
from jupyter_ext.testing import save_like_jupyterlab

PATH = "autopublish.ipynb"
TOO_BIG = "big = '" + "x" * (1024 * 1024 + 10) + "'"  # over the service's 1 MiB source limit


def stream_output(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def notebook(big: str, c1: str, c1_out: str, title: str, c2: str) -> dict:
    def code(cell_id, source, outputs=()):
        return {"id": cell_id, "cell_type": "code", "source": source, "metadata": {},
                "outputs": list(outputs), "execution_count": 1 if outputs else None}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        code("big", big),
        code("c1", c1, [stream_output(c1_out)]),
        {"id": "m1", "cell_type": "markdown", "source": title, "metadata": {}},
        code("c2", c2),
    ]}


@pytest.fixture(scope="module")
def teacher(cs_hub):
    return cs_hub.server("teacher1")


@pytest.fixture(scope="module")
def session(cs_hub, teacher):
    first = notebook("big = 0", "a = 1", "1\n", "# Title", "b = 2")
    assert teacher.put(f"api/contents/{PATH}", json={"type": "notebook", "content": first}).status_code in (200, 201)
    response = teacher.post("codestream/api/sessions", json={"title": "Saves", "notebook_path": PATH})
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    cs_hub.scanner.add(response.json()["student_key"])
    for position, cell in enumerate(first["cells"]):
        body = {"source": cell["source"], "cell_type": cell["cell_type"], "position": position,
                "notebook_path": PATH}
        if cell["id"] == "c1":  # published "+ output"
            body["outputs"] = cell["outputs"]
        published = teacher.put(f"codestream/api/sessions/{code}/cells/{cell['id']}", json=body)
        assert published.status_code == 200, published.text
    return code


def published(teacher, code: str) -> dict:
    return {c["cell_id"]: c for c in teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]}


def test_a_save_publishes_source_outputs_and_markdown_and_keeps_what_failed(cs_hub, teacher, session):
    saved = notebook(TOO_BIG, "a = 10", "10\n", "# A new title", "b = 20")
    save_like_jupyterlab(teacher, PATH, saved)

    def went_out() -> bool:
        cells = published(teacher, session)
        return (cells["c1"]["source"], cells["m1"]["source"], cells["c2"]["source"]) == (
            "a = 10", "# A new title", "b = 20")

    wait_until(went_out, 30, interval=0.3, what="the save's changes to be published")
    cells = published(teacher, session)
    assert cells["c1"]["outputs"] == [stream_output("10\n")], "the cell published '+ output' took its new output"
    assert cells["big"]["source"] == "big = 0", "the refused cell stays as it was"

    failures = teacher.get("codestream/api/publish/failures", params={"session": session}).json()["failures"]
    assert [(f["cell_id"], f["code"], f["number"], f["notebook_path"]) for f in failures] == [
        ("big", "payload_too_large", 1, PATH)]
    assert failures[0]["message"]


def test_the_dashboard_shows_the_failure_and_its_retry_sends_it(cs_hub, teacher, session):
    """The teacher dashboard's notice, on the teacher's own server: what did not go out and why;
    the teacher fixes the cell (here in the file itself, no save event) and presses Retry."""
    async def scenario() -> tuple[str, list, str]:
        client = ServerClient(f"{cs_hub.url}user/teacher1/", cs_hub.token_for("teacher1"))
        try:
            notice = PublishFailuresNotice(client, session_code=session)
            await notice.refresh()
            shown = failures_html(notice.failures)
            on_disk = Path(cs_hub.workdir, "home", "teacher1", PATH)
            content = json.loads(on_disk.read_text())
            content["cells"][0]["source"] = "big = 1"
            on_disk.write_text(json.dumps(content))
            await notice._retry()
            return shown, notice.failures, failures_html(notice.failures)
        finally:
            await client.aclose()

    shown, after, shown_after = asyncio.run(scenario())
    assert "Cell 1 of autopublish.ipynb did not go out to students" in shown
    assert "cs-publish-failures" in shown
    assert after == [] and shown_after == ""
    assert published(teacher, session)["big"]["source"] == "big = 1"
    assert teacher.get("codestream/api/publish/failures").json()["failures"] == []
