"""GLL_MAIL_SMTP_URL against real TLS servers: STARTTLS, implicit TLS, AUTH, certificate checks."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from tls_support import self_signed

from gll_mail.smtp.client import SmtpConfig, SmtpConfigError
from gll_mail.smtp.pool import OK, UNREACHABLE, PooledConnection

pytestmark = [
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
    # a refused TLS handshake leaves aiosmtpd's server side with transports it never closes
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


class Handler:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bool]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), bool(session.authenticated)))
        return "250 OK"


def _login(server, session, envelope, mechanism, data):
    # handled=False: aiosmtpd itself answers a failure with 535 (True means "the hook already replied")
    return AuthResult(success=(data.login, data.password) == (b"gll", b"s3cret pass"), handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture(params=["starttls", "implicit"])
def tls_server(request, certificate):
    """(URL without credentials, CA file, handler) of an aiosmtpd server that demands TLS, then AUTH."""
    cert, context = certificate
    handler, port = Handler(), _free_port()
    if request.param == "starttls":
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            authenticator=_login,
            auth_required=True,
            auth_require_tls=True,
        )
        url = f"smtp://{{auth}}127.0.0.1:{port}?starttls=true"
    else:  # (aiosmtpd cannot tell that an implicit-TLS socket is encrypted: it warns about AUTH)
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            ssl_context=context,
            authenticator=_login,
            auth_required=True,
            auth_require_tls=False,
        )
        url = f"smtps://{{auth}}127.0.0.1:{port}"
    controller.start()
    yield url, cert, handler
    controller.stop()
    gc.collect()  # the transports a refused handshake left open go now, not in some later test


async def _send(url: str, count: int = 3) -> tuple[list, tuple[int, bool]]:
    connection = PooledConnection(SmtpConfig.from_url(url), 2)
    try:
        results = []
        for i in range(count):
            results.append(
                await connection.send(
                    "bounces+t@bounces.example.org", f"m{i}@example.org", b"Subject: hi\r\n\r\nhello\r\n"
                )
            )
            pipelined = connection.pipelining
        return results, (connection.connects, pipelined)
    finally:
        await connection.close()


def test_tls_and_auth_from_the_url(tls_server, monkeypatch):
    url, cert, handler = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # our relay's private CA, trusted the standard way
    results, (connects, _) = asyncio.run(_send(url.format(auth="gll:s3cret%20pass@"), 5))
    assert [r.outcome for r in results] == [OK] * 5
    assert connects == 3  # a cap of 2 messages per connection
    assert handler.received == [("bounces+t@bounces.example.org", [f"m{i}@example.org"], True) for i in range(5)]


def test_an_untrusted_certificate_or_a_wrong_password_sends_nothing(tls_server, monkeypatch):
    url, cert, handler = tls_server
    results, _ = asyncio.run(_send(url.format(auth="gll:s3cret%20pass@"), 1))  # no CA for its certificate
    assert results[0].outcome == UNREACHABLE and "certificate" in results[0].message.lower()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    results, _ = asyncio.run(_send(url.format(auth="gll:wrong@") + ("&" if "?" in url else "?") + "timeout=3", 1))
    assert results[0].outcome == UNREACHABLE  # the campaign pauses with this reason
    assert results[0].code == 535 and results[0].message.startswith("SMTP login refused: 535 5.7.8")
    assert handler.received == []
    results, _ = asyncio.run(
        _send(url.format(auth="gll:s3cret%20pass@") + ("&" if "?" in url else "?") + "verify=false", 1)
    )  # a test relay may opt out of the check
    assert results[0].outcome == OK


@pytest.mark.parametrize(
    "url", ["http://relay.example.org", "smtp://", "smtp://relay:notaport", "smtp://relay?timeout=soon"]
)
def test_a_bad_smtp_url_is_a_clear_error(url):
    with pytest.raises(SmtpConfigError):
        SmtpConfig.from_url(url)


def test_a_wrong_password_pauses_the_campaign_saying_so(tls_server, monkeypatch, settings, engine, tmp_path):
    """The relay refuses our login (535): the campaign pauses at once with the server's words, and
    no message counts as tried."""
    from delivery_support import add_subscribers, deliveries, write_campaign

    from gll_mail.campaigns.sources import load_source
    from gll_mail.delivery.control import send_now
    from gll_mail.models import CampaignStatus

    url, cert, handler = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    add_subscribers(engine, 4)
    wrong = settings.replace(
        smtp_url=url.format(auth="gll:wrong@"), campaigns_dir=tmp_path / "campaigns", smtp_connections=2
    )
    result = send_now(engine, wrong, load_source(write_campaign(wrong.campaigns_dir)))
    assert result.status == CampaignStatus.PAUSED
    assert "SMTP login refused: 535 5.7.8 Authentication credentials invalid" in result.paused_reason
    assert result.remaining == 4 and {r["attempts"] for r in deliveries(engine, "note")} == {0}
    assert handler.received == []
