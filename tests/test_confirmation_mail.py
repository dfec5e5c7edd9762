"""The registration confirmation goes through the campaign builder: a real SMTP server receives it
DKIM-signed (dkimpy verifies), with its VERP envelope sender, its Content-Language and no List-*
header; a bounce to that envelope sender reaches the bounce handling and the suppression list."""

from __future__ import annotations

from email import message_from_bytes, policy

import dkim
import pytest
from mail_kinds import write_key
from sqlmodel import select

from gll_mail.bounces.intake import receive
from gll_mail.members.registration import RegistrationForm, send_confirmation, start_registration
from gll_mail.models import Event, Subscriber, Suppression
from gll_mail.smtp.dkim import DkimSigner
from gll_mail.tokens import read_verp


def bounce_for(address: str) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example\r\nTo: bounces@x\r\nSubject: Undelivered Mail\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b--\r\n"
    ).encode()


@pytest.mark.parametrize("language", ["ru", "zh"])
def test_confirmation_is_signed_verped_and_its_bounce_suppresses(
    engine, session, settings, smtp_server, tmp_path, language
):
    settings = settings.replace(
        smtp_url=smtp_server.url,
        dkim_key_file=str(write_key(tmp_path / "k.pem")),
        dkim_selector="gll2026",
        dkim_domain="who.int",
    )
    form = RegistrationForm(email="irina@example.org", name="Ирина", language=language, consent=True)
    started = start_registration(session, settings, form, ip="192.0.2.7", resource_slug="compassion-tools")
    session.commit()
    send_confirmation(settings, started.subscriber, started.confirm_url)

    [mail] = smtp_server.received
    assert mail.rcpt_tos == ("irina@example.org",)
    local, _, domain = mail.mail_from.partition("@")
    assert domain == settings.bounce_domain and local.startswith("bounces+")
    verp = read_verp(settings, local.removeprefix("bounces+"))
    assert (verp.kind, verp.id) == ("member", started.subscriber.id)

    signer = DkimSigner.from_settings(settings)
    record = signer.public_dns_record().encode()
    assert dkim.verify(
        mail.data, dnsfunc=lambda name, timeout=5: record if name == b"gll2026._domainkey.who.int." else None
    )
    message = message_from_bytes(mail.data, policy=policy.strict)
    assert message["Content-Language"] == ("zh-Hans" if language == "zh" else language)
    assert not [name for name in message if name.lower().startswith("list-")]
    assert message["Auto-Submitted"] == "auto-generated" and message["Precedence"] is None
    assert "Ирина" not in str(message["To"])  # never the name just typed into the public form
    assert started.confirm_url in message.get_content()

    outcome = receive(engine, settings, bounce_for("irina@example.org"), source="test", envelope_to=mail.mail_from)
    assert outcome.action == "suppressed"
    session.expire_all()
    member = session.exec(select(Subscriber).where(Subscriber.email == "irina@example.org")).one()
    assert session.exec(select(Suppression.reason)).all() == ["hard-bounce"]
    event = session.exec(select(Event).where(Event.type == "bounce-hard")).one()
    assert event.subscriber_id == member.id and event.data["match"] == "verp"


def test_a_bounce_of_a_test_send_never_counts_against_anyone(engine, session, settings):
    from gll_mail.tokens import make_verp_token

    token = make_verp_token(settings, 3, kind="test")
    outcome = receive(
        engine,
        settings,
        bounce_for("team@who.int"),
        source="test",
        envelope_to=f"bounces+{token}@{settings.bounce_domain}",
    )
    assert outcome.action == "test-send"
    assert session.exec(select(Suppression)).all() == []
