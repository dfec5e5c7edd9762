"""`gll-mail serve` as a real process: gunicorn answers on an ephemeral port and stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TEST_KEY
from sqlmodel import select

from gll_mail import links
from gll_mail.models import Event, EventType, Resource, Subscriber, utcnow

BIN = Path(sys.executable).parent / "gll-mail"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["--workers", "2"], ["--dev"]])
def test_serve_answers_healthz_and_stops(settings, session, tmp_path, extra):
    session.add(Resource(slug="who", title="WHO", url="https://www.who.int/", access="registered"))
    member = Subscriber(email="amina@example.org", registered_at=utcnow())
    session.add(member)
    session.commit()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLL_MAIL_")}
    # development: clicks are batched (the test app writes them at once), so the stop must flush them
    env.update(
        GLL_MAIL_ENV="test" if "--dev" in extra else "development",
        GLL_MAIL_DATABASE_URL=settings.database_url,
        GLL_MAIL_SECRET_KEYS=TEST_KEY,
        GLL_MAIL_BASE_URL=f"http://127.0.0.1:{port}",
    )
    proc = subprocess.Popen(
        [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = wait_for(f"http://127.0.0.1:{port}/healthz")
        assert b'"ok":true' in body.replace(b" ", b"")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/r/forged-token", timeout=5)
        with err.value:
            assert err.value.code == 400 and b"This link is damaged" in err.value.read()
        live = settings.replace(base_url=f"http://127.0.0.1:{port}")
        opener = urllib.request.build_opener(NoRedirect)
        for _ in range(5):
            with opener.open(links.gate_url(live, member.public_id, "who"), timeout=5) as response:
                assert response.status == 302 and response.headers["Location"] == "https://www.who.int/"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, errors = proc.communicate(timeout=20)
    if "--dev" in extra:  # Flask's server simply dies on SIGTERM
        assert proc.returncode in (0, -signal.SIGTERM), errors.decode()[-2000:]
    else:
        assert proc.returncode == 0, errors.decode()[-2000:]
        assert b"Booting worker" in errors
    session.expire_all()
    assert len(session.exec(select(Event).where(Event.type == EventType.CLICK)).all()) == 5  # flushed on stop
