"""nginx from Debian (``apt-get install nginx``) on loopback as the load balancer in front of
several hub-service replicas; the same configuration is in docs/deploy/nginx-codestream.conf."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx

from jupyter_ext.testing import free_port, stop_processes, wait_until

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "docs" / "deploy" / "nginx-codestream.conf"


def find_nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def nginx_config(workdir: Path, port: int, replica_ports: list[int]) -> str:
    """The documented ``upstream`` + ``location`` blocks, inside a minimal nginx.conf of its own."""
    blocks = TEMPLATE.read_text()
    blocks = blocks.replace("        server codestream-0:10101;\n", "".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;\n" for p in replica_ports))
    blocks = blocks.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = workdir / "temp"
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the test's folders
    return (f"{user}worker_processes 1;\ndaemon off;\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'error.log'} info;\nevents {{ worker_connections 4096; }}\n"
            f"http {{\n    access_log {workdir / 'access.log'};\n"
            + "".join(f"    {kind}_temp_path {temp / kind};\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + blocks + "}\n")


class NginxProcess:
    """A real nginx master (and its worker) on a free loopback port, stopped by the test."""

    def __init__(self, workdir: Path, replica_ports: list[int]):
        self.workdir = Path(workdir)
        (self.workdir / "temp").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.workdir / "nginx.conf"
        self.conf.write_text(nginx_config(self.workdir, self.port, replica_ports))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, ready_path: str) -> NginxProcess:
        executable = find_nginx()
        if executable is None:
            raise RuntimeError("nginx is missing: apt-get install -y nginx (.ci/setup does)")
        log = open(self.workdir / "nginx.out", "ab")
        self.process = subprocess.Popen([executable, "-p", str(self.workdir), "-c", str(self.conf)],
                                        stdout=log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + (self.workdir / "nginx.out").read_text(errors="replace")
                                   + (self.workdir / "error.log").read_text(errors="replace")[-2000:])
            try:
                return httpx.get(self.url + ready_path, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until(ready, 30, interval=0.1, what="nginx")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])  # SIGTERM: nginx's fast shutdown
        self.process = None
