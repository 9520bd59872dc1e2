"""The layer rule, checked: the standalone relay loads no Jupyter server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def modules_loaded_by(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after ``statement``."""
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, check=True, cwd=REPO)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_relay_and_its_read_core_load_no_jupyter_server():
    loaded = modules_loaded_by(
        "import jupyter_ext.relay, jupyter_ext.relay.core, jupyter_ext.relay.server")
    assert "jupyter_ext.relay.core" in loaded and "tornado.web" in loaded  # it did import them
    assert not {m for m in loaded if m == "jupyter_server" or m.startswith("jupyter_server.")}


def test_the_jupyter_extension_loads_jupyter_server():
    """The check above can fail: the Jupyter glue does load jupyter_server."""
    loaded = modules_loaded_by("import jupyter_ext.handlers.read")
    assert "jupyter_server" in loaded
