"""Campaign messages: every header, a stable Message-ID, one skeleton per language, CR/LF-proof headers."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.header import decode_header, make_header

import pytest

from gll_mail.campaigns.message import (
    MessageBuilder,
    MessageError,
    check_address,
    clean,
    feedback_id,
)
from gll_mail.campaigns.render import RenderedMessage
from gll_mail.tokens import read_verp_token

HOSTILE = "Eve\r\nBcc: victim@evil.example\r\n\r\nInjected body"
UNSUBSCRIBE = "https://gll.example.org/u/eyJzIjoieCJ9.abc.def"


def rendered(language="en", subject="A GLL note", text="Hello\nworld", html="<p>Hello</p>"):
    return RenderedMessage(language, subject, html, text, "")


def builder(settings, **kwargs):
    return MessageBuilder(settings, campaign_id=7, slug="note", kind="announcement", **kwargs)


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def display_name(data: bytes, header: str = "To") -> str:
    """The display name as RFC 2047 §6.2 decodes it: the white space between two encoded words is
    dropped (Python 3.11's address parser keeps it, unlike mail programs)."""
    raw = message_from_bytes(data, policy=policy.compat32)[header]
    return str(make_header(decode_header(raw))).rpartition(" <")[0]


def test_all_bulk_sender_headers(settings):
    built = builder(settings).build(rendered(), delivery_id=42, name="Ana", email="ana@example.org",
                                    unsubscribe_url=UNSUBSCRIBE)
    message = parse(built.data)
    assert message["To"] == "Ana <ana@example.org>" and message["From"] == settings.from_address
    assert message["Subject"] == "A GLL note" and message["Date"]
    assert message["Message-ID"] == built.message_id and built.message_id.startswith("<42.7.")
    assert message["List-Id"] == settings.list_id
    assert message["List-Unsubscribe"] == (f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@{settings.bounce_domain}"
                                           "?subject=unsubscribe%20eyJzIjoieCJ9.abc.def>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Feedback-ID"] == feedback_id(settings, "note", "announcement") == \
        "note:announcement:announcements:gll-mail"
    assert feedback_id(settings.replace(feedback_sender_id="who-gll"), "note", "corrigendum") == \
        "note:corrigendum:announcements:who-gll"
    assert read_verp_token(settings, built.sender.split("+")[1].split("@")[0]) == 42
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Hello\nworld"
    assert message.get_body(("html",)).get_content() == "<p>Hello</p>"
    assert b"\n" not in built.data.replace(b"\r\n", b"")  # CRLF line ends only


def test_message_id_is_stable_per_delivery(settings):
    one = builder(settings).build(rendered(), delivery_id=5, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE)
    two = builder(settings).build(rendered(), delivery_id=5, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE)
    other = builder(settings).build(rendered(), delivery_id=6, name="", email="a@example.org",
                                    unsubscribe_url=UNSUBSCRIBE)
    assert one.message_id == two.message_id != other.message_id


def test_skeleton_is_built_once_per_language(settings):
    made = builder(settings)
    for i in range(50):
        made.build(rendered("en" if i % 2 else "fr"), delivery_id=i, name="", email=f"m{i}@example.org",
                   unsubscribe_url=UNSUBSCRIBE)
    assert sorted(made._skeletons) == ["en", "fr"]


@pytest.mark.parametrize("name", [HOSTILE, "Mallory\nBcc: x@evil.example", "Trudy\rTo: y@evil.example",
                                  "Zoë \"the\" <admin>\r\n", "مريم\r\nCc: z@evil.example"])
def test_hostile_names_and_subjects_stay_in_one_header(settings, name):
    built = builder(settings).build(rendered(subject="Hi " + name), delivery_id=1, name=name,
                                    email="ana@example.org", unsubscribe_url=UNSUBSCRIBE)
    head = built.data.split(b"\r\n\r\n", 1)[0]
    message = parse(built.data)
    assert message["Bcc"] is None and message["Cc"] is None
    assert len(message.get_all("To")) == 1 and len(message.get_all("Subject")) == 1
    assert message["To"].addresses[0].addr_spec == "ana@example.org"
    assert "evil.example" not in "".join(a.addr_spec for a in message["To"].addresses)
    for line in head.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line
        assert line[:1] in (b" ", b"\t") or b":" in line  # a header or its folded continuation
    assert b"Injected body" not in built.data.split(b"\r\n\r\n", 1)[1]


def test_a_very_long_name_still_makes_a_sendable_message(settings):
    """200 emoji typed as a name: the To line stays far under SMTP's 998-character limit."""
    built = builder(settings).build(rendered(), delivery_id=1, name="😀" * 200, email="ana@example.org",
                                    unsubscribe_url=UNSUBSCRIBE)
    head = built.data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert display_name(built.data) == "😀" * 64


def test_an_address_with_a_line_break_is_refused(settings):
    for bad in ("ana@example.org\r\nBcc: x@evil.example", "ana@exa mple.org", "<ana@example.org>", "nobody"):
        with pytest.raises(MessageError):
            check_address(bad)
    with pytest.raises(MessageError):
        builder(settings).build(rendered(), delivery_id=1, name="", email="a@b.org\nBcc: c@d.org",
                                unsubscribe_url=UNSUBSCRIBE)
    assert clean("a\r\nb\tc\x00d") == "a b c d"
