"""Publish on save on a laptop teacher server: an output over the limit never stops the save
(the cell goes out without it, the markdown edit of the same save too) and is never silent
(``GET codestream/api/publish/failures`` says which cell and why; the hub case is
tests/test_hub_autopublish.py)."""

from __future__ import annotations

from jupyter_ext.pytest_plugin import create_session, wait_until
from jupyter_ext.testing import save_like_jupyterlab


def saved(c1: str, output: str, title: str) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"id": "c1", "cell_type": "code", "source": c1, "metadata": {}, "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]},
        {"id": "m1", "cell_type": "markdown", "source": title, "metadata": {}},
    ]}


def test_an_output_over_the_limit_goes_out_as_none_and_is_reported(cs_jupyter_server_factory, cs_module_redis,
                                                                    cs_secret_scanner):
    teacher = cs_jupyter_server_factory("failures", env={"CODESTREAM_REDIS_URL": cs_module_redis.url},
                                        args=["--CodeStreamApp.max_output_bytes=1000"])
    with teacher.client() as client:
        first = saved("a = 1", "1\n", "# Title")
        assert client.put("api/contents/lesson.ipynb", json={"type": "notebook", "content": first}).status_code == 201
        session = create_session(client, title="failures", notebook_path="lesson.ipynb")
        cs_secret_scanner.add(session["student_key"])
        code = session["code"]
        for position, cell in enumerate(first["cells"]):
            body = {"source": cell["source"], "cell_type": cell["cell_type"], "position": position,
                    "notebook_path": "lesson.ipynb", **({"outputs": cell["outputs"]} if "outputs" in cell else {})}
            assert client.put(f"codestream/api/sessions/{code}/cells/{cell['id']}", json=body).status_code == 200
        assert client.get("codestream/api/publish/failures").json() == {"failures": []}
        second = saved("a = 2", "x" * 5000, "# New title")
        save_like_jupyterlab(client, "lesson.ipynb", second)

        def cells():
            return {c["cell_id"]: c for c in client.get(f"codestream/api/sessions/{code}/cells").json()["cells"]}

        wait_until(lambda: (cells()["c1"]["source"], cells()["m1"]["source"]) == ("a = 2", "# New title"), 20,
                   what="the save to go out")
        assert cells()["c1"]["outputs"] == []
        failures = client.get("codestream/api/publish/failures", params={"session": code.lower()}).json()["failures"]
        assert [(f["cell_id"], f["code"], f["went_out"], f["number"]) for f in failures] == [
            ("c1", "payload_too_large", True, 1)]
        refused = client.post("codestream/api/publish/retry", json={"session": 7})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input"
