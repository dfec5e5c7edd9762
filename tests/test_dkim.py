"""DKIM: RSA-2048 and Ed25519 signatures made with OpenSSL verify with dkimpy against a test DNS lookup."""

from __future__ import annotations

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gll_mail.campaigns.message import MessageBuilder
from gll_mail.campaigns.render import RenderedMessage
from gll_mail.smtp.dkim import SIGNED_HEADERS, DkimError, DkimSigner

UNSUBSCRIBE = "https://gll.example.org/u/eyJzIjoieCJ9.abc.def"
REQUIRED = {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe", "list-unsubscribe-post",
            "feedback-id", "mime-version", "content-type"}


def key_file(tmp_path, kind: str):
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / f"{kind}.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def signed_message(settings, signer, name="Zoë Ångström") -> bytes:
    builder = MessageBuilder(settings, campaign_id=3, slug="note", kind="announcement", signer=signer)
    rendered = RenderedMessage("fr", "Une note – GLL", "<p>Bonjour&nbsp;Zoë</p>\n" * 40,
                               "Bonjour Zoë,\n\n.leading dot\nfin  \n", "")
    return builder.build(rendered, delivery_id=99, name=name, email="zoe@example.org",
                         unsubscribe_url=UNSUBSCRIBE).data


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
    assert REQUIRED <= set(signed) and set(signed) <= set(SIGNED_HEADERS)
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
