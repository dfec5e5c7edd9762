"""A fully configured test deployment for `gll-mail doctor`: a real DNS server with every record, an
SMTP relay that demands STARTTLS and AUTH, the bounce receiver, and the app behind a real HTTPS server."""

from __future__ import annotations

import gc
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from dns_support import TxtServer
from tls_support import self_signed
from werkzeug.serving import make_server

from gll_mail.bounces.intake import make_controller
from gll_mail.ops import heartbeat
from gll_mail.settings import Settings
from gll_mail.smtp.dkim import DkimSigner
from gll_mail.smtp.dkim_setup import generate_key
from gll_mail.web import create_app

SENDING_IP = "192.0.2.10"
USER, PASSWORD = "gll", "relay pa55"
KEY = "deploy-secret-key-0123456789abcdefghijklmnop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def _login(server, session, envelope, mechanism, data):
    return AuthResult(success=(data.login, data.password) == (USER.encode(), PASSWORD.encode()), handled=False)


def relay(context: ssl.SSLContext, *, starttls: bool = True) -> tuple[Controller, int]:
    port = free_port()
    options = (
        {
            "tls_context": context,
            "require_starttls": True,
            "authenticator": _login,
            "auth_required": True,
            "auth_require_tls": True,
        }
        if starttls
        else {}
    )
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller, port


class HttpsServer:
    """A WSGI app served over TLS on 127.0.0.1 in a thread (the TLS proxy in front of `serve`)."""

    def __init__(self, app, cert: Path, key: Path, port: int) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=context)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Deployment:
    settings: Settings
    dns: TxtServer
    engine: object
    cert: Path
    bounce_port: int
    web_port: int
    stops: list = field(default_factory=list)

    def options(self, **changes):
        from gll_mail.ops.doctor import Options

        values = {
            "nameserver": self.dns.address,
            "sending_ip": SENDING_IP,
            "bounce_receiver": f"127.0.0.1:{self.bounce_port}",
            "here": {"127.0.0.1"},
            "timeout": 3.0,
        }
        values.update(changes)
        return Options(**values)

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            "GLL_MAIL_ENV": s.env,
            "GLL_MAIL_DATABASE_URL": s.database_url,
            "GLL_MAIL_BASE_URL": s.base_url,
            "GLL_MAIL_SECRET_KEYS": ",".join(s.secret_keys),
            "GLL_MAIL_SMTP_URL": s.smtp_url,
            "GLL_MAIL_FROM": s.from_address,
            "GLL_MAIL_BOUNCE_DOMAIN": s.bounce_domain,
            "GLL_MAIL_DKIM_KEY_FILE": s.dkim_key_file,
            "GLL_MAIL_DKIM_SELECTOR": s.dkim_selector,
            "GLL_MAIL_DKIM_DOMAIN": s.dkim_domain,
            "GLL_MAIL_APPROVALS_REQUIRED": str(s.approvals_required),
            "GLL_MAIL_POSTAL_ADDRESS": s.postal_address,
        }


def build(tmp: Path, engine, database_url: str, monkeypatch) -> Deployment:
    """Everything green; the caller stops it with :func:`tear_down`."""
    cert, key = self_signed(tmp)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # our private CA, trusted the standard way
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    smtp, smtp_port = relay(context)
    signer = generate_key(tmp / "dkim.pem", "gll2026", "example.org")
    web_port = free_port()
    settings = Settings(
        env="production",
        database_url=database_url,
        base_url=f"https://127.0.0.1:{web_port}",
        secret_keys=(KEY,),
        smtp_url=f"smtp://{USER}:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{smtp_port}?starttls=true",
        from_address="GLL <news@example.org>",
        bounce_domain="bounces.example.org",
        dkim_key_file=str(tmp / "dkim.pem"),
        dkim_selector="gll2026",
        dkim_domain="example.org",
        approvals_required=1,
        postal_address="WHO, Avenue Appia 20, 1211 Geneva 27, Switzerland",
        campaigns_dir=tmp / "campaigns",
        resources_dir=tmp / "resources",
    )
    dns = TxtServer().__enter__()
    dns.records["bounces.example.org"] = [[f"v=spf1 ip4:{SENDING_IP} -all"]]
    value = signer.public_dns_record()
    dns.records["gll2026._domainkey.example.org"] = [[value[i : i + 255] for i in range(0, len(value), 255)]]
    dns.records["_dmarc.example.org"] = [["v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"]]
    dns.typed[("bounces.example.org", "MX")] = ["10 mx.example.org."]
    dns.typed[("mx.example.org", "A")] = ["127.0.0.1"]
    dns.typed[("10.2.0.192.in-addr.arpa", "PTR")] = ["relay.example.org."]
    dns.typed[("relay.example.org", "A")] = [SENDING_IP]
    bounce_port = free_port()
    bounces = make_controller(engine, settings, "127.0.0.1", bounce_port)
    bounces.start()
    web = HttpsServer(create_app(settings, engine), cert, key, web_port)
    heartbeat.beat(engine, "worker-1")
    deployment = Deployment(settings, dns, engine, cert, bounce_port, web_port)
    deployment.stops = [web.stop, bounces.stop, smtp.stop, lambda: dns.__exit__(None, None, None)]
    assert DkimSigner.from_settings(settings) is not None
    return deployment


def tear_down(deployment: Deployment) -> None:
    for stop in deployment.stops:
        stop()
    gc.collect()
