"""DKIM: RSA-2048 and Ed25519 signatures made with OpenSSL verify with dkimpy against a test DNS lookup."""

from __future__ import annotations

import re

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gll_mail.campaigns.message import MessageBuilder
from gll_mail.campaigns.render import RenderedMessage
from gll_mail.smtp.dkim import SIGNED_HEADERS, DkimError, DkimSigner

UNSUBSCRIBE = "https://gll.example.org/u/eyJzIjoieCJ9.abc.def"
REQUIRED = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
    "mime-version",
    "content-type",
}


def key_file(tmp_path, kind: str):
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / f"{kind}.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def signed_message(settings, signer, name="Zoë Ångström") -> bytes:
    builder = MessageBuilder(settings, campaign_id=3, slug="note", kind="announcement", signer=signer)
    rendered = RenderedMessage(
        "fr", "Une note – GLL", "<p>Bonjour&nbsp;Zoë</p>\n" * 40, "Bonjour Zoë,\n\n.leading dot\nfin  \n", ""
    )
    return builder.build(rendered, delivery_id=99, name=name, email="zoe@example.org", unsubscribe_url=UNSUBSCRIBE).data


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_signatures_verify_with_dkimpy(settings, tmp_path, kind):
    signer = DkimSigner.from_file(key_file(tmp_path, kind), "gll2026", "who.int")
    record = signer.public_dns_record().encode()
    asked = []

    def dns(name, timeout=5):
        asked.append(name)
        return record if name == b"gll2026._domainkey.who.int." else None

    data = signed_message(settings, signer)
    assert dkim.verify(data, dnsfunc=dns)
    assert asked == [b"gll2026._domainkey.who.int."]
    header = data.split(b"\r\n\r\n", 1)[0].decode()
    signed = header.split("h=", 1)[1].split(";", 1)[0].replace("\r\n\t", "").split(":")
    assert set(signed) >= REQUIRED and set(signed) <= set(SIGNED_HEADERS)
    assert (f"a={'rsa' if kind == 'rsa' else 'ed25519'}-sha256") in header
    tampered = data.replace(b"<zoe@example.org>", b"<eve@example.org>", 1)
    assert tampered != data
    assert not dkim.verify(tampered, dnsfunc=dns)
    body_changed = data.replace(b"Bonjour Zo", b"Bonsoir Zo", 1)
    assert not dkim.verify(body_changed, dnsfunc=dns)


def test_bad_keys_and_settings_are_refused(tmp_path):
    with pytest.raises(DkimError, match="cannot read"):
        DkimSigner.from_file(tmp_path / "missing.pem", "s", "who.int")
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(DkimError, match="PEM"):
        DkimSigner.from_file(tmp_path / "junk.pem", "s", "who.int")
    with pytest.raises(DkimError, match="SELECTOR"):
        DkimSigner.from_file(key_file(tmp_path, "ed25519"), "", "who.int")


def dns_for(*signers):
    records = {
        f"{s.selector.decode()}._domainkey.{s.domain.decode()}.".encode(): s.public_dns_record().encode()
        for s in signers
    }
    return lambda name, timeout=5: records.get(name)


def add_header(data: bytes, line: bytes) -> bytes:
    """What a relay or list server does: one more header line on top of the message."""
    return line + b"\r\n" + data


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_oversigning_breaks_the_signature_when_a_relay_adds_a_header(settings, tmp_path, kind):
    signer = DkimSigner.from_file(key_file(tmp_path, kind), "gll2026", "who.int")
    dns = dns_for(signer)
    data = signed_message(settings, signer)
    assert dkim.verify(data, dnsfunc=dns)
    header = data.split(b"\r\n\r\n", 1)[0].decode()
    signed = re.sub(r"\s", "", header.split("h=", 1)[1].split(";", 1)[0]).split(":")
    present = [
        line.split(":", 1)[0].lower()
        for line in header.split("\r\n")
        if line[:1] not in (" ", "\t") and not line.lower().startswith("dkim-signature")
    ]
    for name in SIGNED_HEADERS:  # each one more time than it occurs: absent ones once
        assert signed.count(name) == present.count(name) + 1, name
    for added in (
        b"Reply-To: Eve <eve@evil.example>",
        b"Cc: eve@evil.example",
        b"Subject: Urgent: verify now",
        b"List-Unsubscribe: <https://evil.example/u>",
        b"To: eve@evil.example",
        b"Content-Language: en",
    ):
        assert not dkim.verify(add_header(data, added), dnsfunc=dns), added
    # a header nobody reads or acts on may still be added on the way (Received, ARC, spam scores)
    assert dkim.verify(add_header(data, b"Received: from relay.example by mx.example"), dnsfunc=dns)
    assert dkim.verify(add_header(data, b"X-Spam-Score: 0.0"), dnsfunc=dns)


def test_dual_signing_adds_an_rsa_and_an_ed25519_signature_that_each_verify(settings, tmp_path):
    from gll_mail.smtp.dkim import DualSigner, signer_from_settings

    both = settings.replace(
        dkim_key_file=str(key_file(tmp_path, "rsa")),
        dkim_selector="gll2026",
        dkim_domain="who.int",
        dkim_ed25519_key_file=str(key_file(tmp_path, "ed25519")),
        dkim_ed25519_selector="gll2026e",
    )
    signer = signer_from_settings(both)
    assert isinstance(signer, DualSigner)
    rsa_signer, ed_signer = signer.signers
    assert (rsa_signer.algorithm, ed_signer.algorithm) == (b"rsa-sha256", b"ed25519-sha256")
    data = signed_message(both, signer)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"DKIM-Signature:") == 2
    assert b"a=ed25519-sha256; c=relaxed/simple; d=who.int; s=gll2026e;" in head
    assert b"a=rsa-sha256; c=relaxed/simple; d=who.int; s=gll2026;" in head
    checker = dkim.DKIM(data)
    assert checker.verify(idx=0, dnsfunc=dns_for(rsa_signer, ed_signer))
    assert checker.verify(idx=1, dnsfunc=dns_for(rsa_signer, ed_signer))
    # a receiver that only knows RSA still finds a good signature; tampering breaks both
    assert dkim.DKIM(data).verify(idx=1, dnsfunc=dns_for(rsa_signer)) or dkim.DKIM(data).verify(
        idx=0, dnsfunc=dns_for(rsa_signer)
    )
    tampered = add_header(data, b"Reply-To: eve@evil.example")
    assert not any(dkim.DKIM(tampered).verify(idx=i, dnsfunc=dns_for(rsa_signer, ed_signer)) for i in (0, 1))


def test_ed25519_alone_is_refused_in_production(settings, tmp_path):
    from gll_mail.settings import SettingsError
    from gll_mail.smtp.dkim import signer_from_settings

    ed = str(key_file(tmp_path, "ed25519"))
    alone = settings.replace(dkim_key_file=ed, dkim_selector="gll2026e", dkim_domain="who.int")
    assert signer_from_settings(alone).algorithm == b"ed25519-sha256"  # allowed in development and tests
    production = {"env": "production", "secret_keys": ("k" * 48,)}
    with pytest.raises(DkimError, match="Ed25519 only"):
        signer_from_settings(alone.replace(**production))
    with pytest.raises(SettingsError, match="Ed25519 only"):
        settings.replace(
            dkim_ed25519_key_file=ed, dkim_ed25519_selector="gll2026e", dkim_domain="who.int", **production
        )
    rsa_too = alone.replace(
        dkim_key_file=str(key_file(tmp_path, "rsa")),
        dkim_selector="gll2026",
        dkim_ed25519_key_file=ed,
        dkim_ed25519_selector="gll2026e",
        **production,
    )
    assert signer_from_settings(rsa_too).algorithm == b"rsa-sha256+ed25519-sha256"
    with pytest.raises(DkimError, match="must hold an Ed25519 key"):
        signer_from_settings(rsa_too.replace(dkim_ed25519_key_file=rsa_too.dkim_key_file))
    with pytest.raises(DkimError, match="must differ"):
        signer_from_settings(rsa_too.replace(dkim_ed25519_selector="gll2026"))
