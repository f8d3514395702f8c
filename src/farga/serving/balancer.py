"""nginx in front of several ``farga serve`` replicas on one machine, for the scale-out tests and the
replica benchmark. The site is deploy/nginx/farga.conf.template, the file the compose stack's nginx
renders, so what is tested here is what is deployed; only the outer nginx.conf (paths, no daemon)
is this module's own."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from string import Template

from farga.errors import FargaError
from farga.serving.process import ServerProcess, free_port

TEMPLATE = Path("deploy") / "nginx" / "farga.conf.template"


def site(template: Path, listen: int, replicas: Sequence[str]) -> str:
    """The template with its variables set, as envsubst in the nginx image sets them."""
    servers = " ".join(f"server {address} max_fails=1 fail_timeout=5s;" for address in replicas)
    text = Template(template.read_text(encoding="utf-8"))
    return text.safe_substitute(FARGA_UPSTREAM_SERVERS=servers, FARGA_LISTEN=f"127.0.0.1:{listen}")


def main_conf(prefix: Path, site_file: Path) -> str:
    """An nginx.conf that keeps everything under ``prefix`` (pid, logs, temp files) and includes the site."""
    temp = " ".join(
        f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""  # as root, nginx's workers would drop to nobody
    return (
        f"{user}\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{ access_log off; {temp} include {site_file}; }}\n"
    )


def nginx(template: Path, prefix: Path, replicas: Sequence[str]) -> ServerProcess:
    """nginx balancing ``replicas`` (host:port), not started yet; ready once a replica answers through it."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        raise FargaError("nginx is not installed (make system-deps installs Debian's)")
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site_file = prefix / "farga.conf"
    site_file.write_text(site(template, port, replicas), encoding="utf-8")
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, site_file), encoding="utf-8")
    command = [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]
    return ServerProcess(prefix, command=command, ready_path="/healthz", port=port)
