"""``codestream`` console script: ``codestream demo``, ``codestream relay`` and ``codestream hub-service``."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "demo": ("jupyter_ext.demo", "Run a whole classroom (teacher + student JupyterLab) on this machine."),
    "relay": ("jupyter_ext.relay", "Serve the read routes from Redis, without Jupyter, behind a load balancer."),
    "hub-service": ("jupyter_ext.hub.service", "The JupyterHub service (started by the hub; see configure_jupyterhub)."),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="codestream", description="Code Stream command line.")
    parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(
        f"{name}: {text}" for name, (_module, text) in sorted(COMMANDS.items())))
    args, rest = parser.parse_known_args(argv[:1])
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
