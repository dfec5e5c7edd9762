"""Campaign messages: every header, a stable Message-ID, one skeleton per language, CR/LF-proof headers."""

from __future__ import annotations

import re
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
    built = builder(settings).build(
        rendered(), delivery_id=42, name="Ana", email="ana@example.org", unsubscribe_url=UNSUBSCRIBE
    )
    message = parse(built.data)
    assert message["To"] == "Ana <ana@example.org>" and message["From"] == settings.from_address
    assert message["Subject"] == "A GLL note" and message["Date"]
    assert message["Message-ID"] == built.message_id and built.message_id.startswith("<42.7.")
    assert message["List-Id"] == settings.list_id
    assert message["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@{settings.bounce_domain}?subject=unsubscribe%20eyJzIjoieCJ9.abc.def>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        message["Feedback-ID"]
        == feedback_id(settings, "note", "announcement")
        == "note:announcement:announcements:gll-mail"
    )
    assert (
        feedback_id(settings.replace(feedback_sender_id="who-gll"), "note", "corrigendum")
        == "note:corrigendum:announcements:who-gll"
    )
    assert read_verp_token(settings, built.sender.split("+")[1].split("@")[0]) == 42
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Hello\nworld"
    assert message.get_body(("html",)).get_content() == "<p>Hello</p>"
    assert b"\n" not in built.data.replace(b"\r\n", b"")  # CRLF line ends only


def test_message_id_is_stable_per_delivery(settings):
    one = builder(settings).build(
        rendered(), delivery_id=5, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE
    )
    two = builder(settings).build(
        rendered(), delivery_id=5, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE
    )
    other = builder(settings).build(
        rendered(), delivery_id=6, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE
    )
    assert one.message_id == two.message_id != other.message_id


def test_skeleton_is_built_once_per_language(settings):
    made = builder(settings)
    for i in range(50):
        made.build(
            rendered("en" if i % 2 else "fr"),
            delivery_id=i,
            name="",
            email=f"m{i}@example.org",
            unsubscribe_url=UNSUBSCRIBE,
        )
    assert sorted(made._skeletons) == ["en", "fr"]


@pytest.mark.parametrize(
    "name",
    [
        HOSTILE,
        "Mallory\nBcc: x@evil.example",
        "Trudy\rTo: y@evil.example",
        'Zoë "the" <admin>\r\n',
        "مريم\r\nCc: z@evil.example",
    ],
)
def test_hostile_names_and_subjects_stay_in_one_header(settings, name):
    built = builder(settings).build(
        rendered(subject="Hi " + name), delivery_id=1, name=name, email="ana@example.org", unsubscribe_url=UNSUBSCRIBE
    )
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
    built = builder(settings).build(
        rendered(), delivery_id=1, name="😀" * 200, email="ana@example.org", unsubscribe_url=UNSUBSCRIBE
    )
    head = built.data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert display_name(built.data) == "😀" * 64


def test_an_address_with_a_line_break_is_refused(settings):
    for bad in ("ana@example.org\r\nBcc: x@evil.example", "ana@exa mple.org", "<ana@example.org>", "nobody"):
        with pytest.raises(MessageError):
            check_address(bad)
    with pytest.raises(MessageError):
        builder(settings).build(
            rendered(), delivery_id=1, name="", email="a@b.org\nBcc: c@d.org", unsubscribe_url=UNSUBSCRIBE
        )
    assert clean("a\r\nb\tc\x00d") == "a b c d"


ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def header_lines(head: str, name: str) -> list[str]:
    """The lines of one header field: its first line and the folded ones after it."""
    lines = head.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (" ", "\t"):
        end += 1
    return lines[start:end]


def test_encoded_words_are_at_most_75_characters_and_long_names_are_split(settings):
    arabic = "عبد الرحمن بن محمد بن عبد العزيز آل سعود الحسيني القرشي الهاشمية"  # 64 characters
    assert len(arabic) == 64
    long_subject = "مختبر التعلّم العالمي يصدر تقارير عن التعاطف، جوهر الخدمات الصحية الجيدة " * 2
    built = builder(settings).build(
        rendered("ar", subject=long_subject),
        delivery_id=1,
        name=arabic,
        email="ana@example.org",
        unsubscribe_url=UNSUBSCRIBE,
    )
    head = built.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    words = ENCODED_WORD.findall(head)
    assert words and max(len(w) for w in words) <= 75
    to_words = ENCODED_WORD.findall(head.split("\r\nTo: ", 1)[1].split("\r\nDate:", 1)[0])
    assert len(to_words) >= 3  # 64 Arabic characters are 118 bytes: several words, not one of 172 characters
    for name in ("To", "Subject"):  # folded under 78 characters a line
        assert max(len(line) for line in header_lines(head, name)) <= 78, name
    assert display_name(built.data) == arabic
    assert str(make_header(decode_header(message_from_bytes(built.data)["Subject"]))) == clean(long_subject)
    latin = builder(settings).build(
        rendered("fr", subject="La qualité des soins de santé, " * 6),
        delivery_id=1,
        name="Zoë Ångström-Lefebvre",
        email="zoe@example.org",
        unsubscribe_url=UNSUBSCRIBE,
    )
    latin_head = latin.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert max(len(w) for w in ENCODED_WORD.findall(latin_head)) <= 75
    assert "=?utf-8?q?Zo=C3=AB" in latin_head  # mostly Latin text stays readable (quoted-printable)


def test_date_is_plus_0000_and_message_id_survives_a_key_rotation(settings):
    built = builder(settings).build(
        rendered(), delivery_id=5, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE
    )
    date = parse(built.data)["Date"]
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", str(date)), date
    assert b"GMT" not in built.data.split(b"\r\n\r\n", 1)[0]
    rotated = settings.replace(secret_keys=("a-brand-new-key-0123456789abcdefghijkl",) + settings.secret_keys)
    again = builder(rotated).build(
        rendered(), delivery_id=5, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE
    )
    assert again.message_id == built.message_id
    # the envelope sender is signed with the new key, and read with either
    assert read_verp_token(rotated, again.sender.split("+")[1].split("@")[0]) == 5
    other = settings.replace(secret_keys=("another-deployment-key-0123456789abcdef",))
    assert (
        builder(other)
        .build(rendered(), delivery_id=5, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE)
        .message_id
        != built.message_id
    )


def test_list_help_owner_and_archive(settings):
    message = parse(
        builder(settings)
        .build(rendered(), delivery_id=1, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE)
        .data
    )
    assert message["List-Help"] == "<mailto:gll4quhc@who.int?subject=help>"
    assert message["List-Owner"] == "<mailto:gll4quhc@who.int>"
    assert message["List-Archive"] is None  # no public archive yet
    archived = settings.replace(list_archive_url="https://gll.example.org/archive")
    message = parse(
        builder(archived)
        .build(rendered(), delivery_id=1, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE)
        .data
    )
    assert message["List-Archive"] == "<https://gll.example.org/archive>"


def test_test_sends_have_their_own_verp_token_and_feedback_id(settings):
    from gll_mail.tokens import TokenInvalid, read_verp

    built = builder(settings, test=True).build(
        rendered(), delivery_id=0, name="", email="team@who.int", unsubscribe_url=UNSUBSCRIBE, mid="<test.1@who.int>"
    )
    token = built.sender.split("+")[1].split("@")[0]
    assert read_verp(settings, token).kind == "test" and read_verp(settings, token).id == 7
    with pytest.raises(TokenInvalid):
        read_verp_token(settings, token)  # never mistaken for delivery 7's bounce
    assert parse(built.data)["Feedback-ID"] == "note:test:announcements:gll-mail"


def test_transactional_mail_has_no_list_headers(settings):
    made = MessageBuilder(settings, campaign_id=0, slug="confirm", kind="transactional", transactional=True)
    built = made.build_transactional(
        rendered("zh", subject="请确认", html=""), subscriber_id=12, name="王伟", email="wei@example.org"
    )
    message = parse(built.data)
    assert not [name for name in message if name.lower().startswith("list-")]
    assert message["Precedence"] is None and message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "zh-Hans" and message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == "Hello\nworld"
    from gll_mail.tokens import read_verp

    verp = read_verp(settings, built.sender.split("+")[1].split("@")[0])
    assert (verp.kind, verp.id) == ("member", 12)
    with pytest.raises(MessageError):
        made.build(rendered(), delivery_id=1, name="", email="a@example.org", unsubscribe_url=UNSUBSCRIBE)


def test_every_kind_in_every_language_parses_without_defects(settings, session, tmp_path):
    """The strict email policy finds no defect in any message; every encoded word is at most 75
    characters; every message is DKIM-signed and has a VERP envelope sender."""
    from mail_kinds import build_all, signed_settings

    settings = signed_settings(settings, tmp_path)
    for (kind, language), (sender, data) in build_all(settings, session).items():
        message = message_from_bytes(data, policy=policy.strict)
        for name, value in message.items():
            assert not getattr(value, "defects", ()), (kind, language, name)
        assert [str(v) for v in message.get_all("Content-Language")] == ["zh-Hans" if language == "zh" else language]
        head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
        assert all(len(w) <= 75 for w in ENCODED_WORD.findall(head)), (kind, language)
        assert head.startswith("DKIM-Signature:") and sender.startswith("bounces+"), (kind, language)
        assert (message["List-Unsubscribe"] is None) == (kind == "confirmation"), (kind, language)
