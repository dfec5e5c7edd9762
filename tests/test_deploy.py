"""deploy/: the systemd units pass `systemd-analyze verify` with their hardening, and the nginx server
block passes `nginx -t` (both tools from Debian; `make browser` installs them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, need
from tls_support import self_signed

DEPLOY = REPO / "deploy"
UNITS = sorted(p.name for p in DEPLOY.glob("*.service")) + sorted(p.name for p in DEPLOY.glob("*.timer"))
HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "CapabilityBoundingSet=",
)
INSTALLED = "/opt/gll-mail/venv/bin/gll-mail"


def test_the_units_are_there():
    assert {"gll-mail-web.service", "gll-mail-worker.service", "gll-mail-bounces.service"} <= set(UNITS)
    assert {"gll-mail-daily.service", "gll-mail-daily.timer"} <= set(UNITS)
    daily = (DEPLOY / "gll-mail-daily.service").read_text()
    assert "subscribers purge-unconfirmed" in daily and "gll-mail doctor" in daily


@pytest.mark.parametrize("unit", [u for u in UNITS if u.endswith(".service")])
def test_every_service_is_hardened(unit):
    text = (DEPLOY / unit).read_text()
    for option in HARDENING:
        assert option in text, f"{unit} lacks {option}"


def test_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        need("systemd-analyze is not installed (Debian's systemd; `make browser` installs it)")
    gll_mail = Path(sys.executable).with_name("gll-mail")  # where the units expect it, here
    for unit in UNITS:
        (tmp_path / unit).write_text((DEPLOY / unit).read_text().replace(INSTALLED, str(gll_mail)))
    done = subprocess.run([tool, "verify", *UNITS], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        need("systemd-analyze is not installed")
    (tmp_path / "broken.service").write_text("[Service]\nExecStart=relative/path\n")
    done = subprocess.run([tool, "verify", "broken.service"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 or done.stderr.strip()


def test_nginx_accepts_the_server_block(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        need("nginx is not installed (Debian's nginx-light; `make browser` installs it)")
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx-gll-mail.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/gll.example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/gll.example.org/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  client_body_temp_path {tmp_path};\n  include {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_the_container_files_say_they_are_not_built_here():
    for name in ("Containerfile", "compose.yaml"):
        assert "NOT BUILT OR TESTED HERE" in (DEPLOY / name).read_text()
