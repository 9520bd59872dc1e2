"""`pip install .` ships and enables the server extension with no manual step."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_in_a_fresh_venv_enables_the_extension(tmp_path):
    """Install the built wheel into a brand-new venv; ``jupyter server extension list`` there shows it enabled.

    The new venv borrows the already-installed dependencies through a ``.pth`` line (no network),
    but sees Code Stream only through the wheel.
    """
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("jupyter_codestream-*.whl"))
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    fresh_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    deps_site = sysconfig.get_paths()["purelib"]
    (fresh_site / "borrowed_deps.pth").write_text(deps_site + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)

    assert (fresh / "etc" / "jupyter" / "jupyter_server_config.d" / "jupyter_codestream.json").is_file()
    assert (fresh_site / "jupyter_ext" / "openapi.json").is_file()
    for app in ROOT.glob("apps/*.py"):
        assert (fresh_site / "codestream_dash" / "apps" / app.name).is_file()
    env = {"PATH": f"{fresh / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "NO_COLOR": "1"}
    where = subprocess.run([str(python), "-c", "import jupyter_ext; print(jupyter_ext.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path).stdout
    assert where.startswith(str(fresh_site))
    listing = subprocess.run([str(python), "-m", "jupyter_server", "extension", "list"],
                             env=env, capture_output=True, text=True, cwd=tmp_path)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    assert re.search(r"jupyter_ext\s+enabled", text), text
    assert re.search(r"jupyter_ext\s+[0-9][^\n]*OK", text), text
