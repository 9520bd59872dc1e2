"""The layer rule, checked: import-linter's contracts hold, and the standalone relay loads no
Jupyter server (checked in a fresh interpreter too)."""

from __future__ import annotations

import json
import os
import shutil
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
        "import jupyter_ext.relay, jupyter_ext.web.core, jupyter_ext.relay.server")
    assert "jupyter_ext.web.core" in loaded and "tornado.web" in loaded  # it did import them
    assert not {m for m in loaded if m == "jupyter_server" or m.startswith("jupyter_server.")}


def test_the_jupyter_extension_loads_jupyter_server():
    """The check above can fail: the Jupyter glue does load jupyter_server."""
    loaded = modules_loaded_by("import jupyter_ext.handlers.read")
    assert "jupyter_server" in loaded


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    """``lint-imports`` (import-linter) on this checkout, with pyproject.toml's contracts."""
    beside = Path(sys.executable).parent / "lint-imports"
    command = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert command, "import-linter is a test dependency (pip install -e '.[test]')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([command, "--no-cache", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)


def test_the_import_contracts_hold():
    """domain <- store <- clients <- extension glue / relay <- dashboards, the relay free of
    jupyter_server, the domain free of I/O libraries (pyproject.toml [tool.importlinter])."""
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_wrong_import_breaks_a_contract(tmp_path):
    """The check can fail: a contract the code does not keep (the Jupyter glue does import
    jupyter_server) makes lint-imports exit non-zero."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["jupyter_ext"]\ninclude_external_packages = true\n\n'
        '[[tool.importlinter.contracts]]\nname = "glue without Jupyter"\ntype = "forbidden"\n'
        'source_modules = ["jupyter_ext.handlers"]\nforbidden_modules = ["jupyter_server"]\n')
    result = lint_imports("--config", str(config))
    assert result.returncode != 0 and "BROKEN" in result.stdout


def test_every_module_imports():
    """A module that cannot be imported is a defect even when nothing imports it at start-up (a
    name moved between modules once disabled the student side silently)."""
    script = (
        "import importlib, pkgutil, jupyter_ext, codestream_dash\n"
        "for pkg in (jupyter_ext, codestream_dash):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "print('all imported')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "all imported" in done.stdout, done.stderr[-3000:]


def test_no_file_over_400_lines_and_no_class_over_300():
    """Sizes a newcomer can read (issue 21): split a module rather than grow it."""
    import ast

    root = REPO
    too_big = []
    for package in ("jupyter_ext", "codestream_dash"):
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if source.count("\n") > 400:
                too_big.append(f"{path.relative_to(root)}: {source.count(chr(10))} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                    too_big.append(f"{path.relative_to(root)}: class {node.name} "
                                   f"{node.end_lineno - node.lineno + 1} lines")
    assert not too_big, too_big
