"""Messages as bytes: a MIME skeleton built once per campaign × language, filled per recipient.

:class:`MessageBuilder` encodes everything that is the same for every recipient of a language once
(``From``, the ``List-*`` headers, ``Feedback-ID``, MIME headers, the boundary, the subject when it
is not personalized). ``build()`` then only adds ``To``, ``Date``, the stable ``Message-ID``, the
``List-Unsubscribe`` pair and the two body parts (text quoted-printable, HTML base64).

Three kinds of message share this one path, so each is DKIM-signed, VERP'd and exact alike:
campaign messages; test sends (``test=True``: their own VERP token and a Feedback-ID marking them
as tests, so neither a bounce nor a complaint about a proof counts against a member); and
transactional mail such as the registration confirmation (:meth:`MessageBuilder.build_transactional`:
no List-* header, ``Auto-Submitted``, a VERP token naming the member).

No header value can carry a line break: every value passes through :func:`clean` (control
characters become spaces) and non-ASCII text is RFC 2047-encoded in words of at most 75
characters, so a hostile name such as ``"Eve\\r\\nBcc: x@evil"`` stays inside one ``To`` header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import quoprimime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from gll_mail.campaigns.render import RenderedMessage
from gll_mail.errors import GllMailError
from gll_mail.languages import language_tag
from gll_mail.settings import Settings
from gll_mail.tokens import make_verp_token

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ADDRESS = re.compile(r"^[^\s<>()\[\],;:\"\\@]+@[A-Za-z0-9.-]+$")
CRLF = b"\r\n"


class MessageError(GllMailError, ValueError):
    """A message cannot be built safely (an address that is not an address)."""


def clean(value: str) -> str:
    """One line of text: line breaks and other control characters become single spaces."""
    return _CONTROL.sub(" ", value or "").strip()


WORD_MAX = 75  # RFC 2047 §2: an encoded word is at most 75 characters
LINE_MAX = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
_WORD_WRAP = len("=?utf-8?b??=")


def encoded_words(text: str, first_room: int = WORD_MAX) -> list[str]:
    """``text`` as UTF-8 encoded words of at most 75 characters (the first at most ``first_room``),
    split between characters: quoted-printable when the text is mostly Latin (readable in the raw
    message), base64 otherwise (shorter for Arabic, Chinese, Cyrillic)."""
    latin = sum(not c.isascii() for c in text) * 4 < len(text)
    words, chunk, size = [], "", 0
    room = max(min(first_room, WORD_MAX), _WORD_WRAP + 12)
    for char in text:
        raw = char.encode("utf-8")
        if latin:
            cost = sum(1 if (b < 128 and (chr(b).isalnum() or chr(b) in " !*+-/")) else 3 for b in raw)
            fits = size + cost <= room - _WORD_WRAP
        else:
            cost = len(raw)
            fits = size + cost <= (room - _WORD_WRAP) // 4 * 3
        if chunk and not fits:
            words.append(chunk)
            chunk, size, room = "", 0, WORD_MAX
        chunk += char
        size += cost
    if chunk:
        words.append(chunk)
    if latin:
        return [quoprimime.header_encode(w.encode("utf-8"), "utf-8") for w in words]
    return [f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode()}?=" for w in words]


def encode_text(value: str, name: str) -> str:
    """A header value, RFC 2047-encoded when it is not plain ASCII, folded so lines stay short."""
    value = clean(value)
    if value.isascii():
        if len(value) + len(name) + 2 <= LINE_MAX:
            return value
        return Header(value, "us-ascii", header_name=name).encode(linesep="\r\n")
    return "\r\n ".join(encoded_words(value, LINE_MAX - len(name) - 2))


def check_address(address: str) -> str:
    address = address or ""
    if not address.isascii() or not _ADDRESS.match(address):
        raise MessageError(f"not a mailable address: {address!r}")
    return address


NAME_IN_HEADER = 64  # characters of a display name in To/From: 64 emoji still fit well in one line


def mailbox(name: str, address: str, header: str = "To") -> str:
    """``Name <address>`` with the name quoted or encoded (in several words when it is long); never
    longer than SMTP allows (a 200-emoji name would make a 1,100-character line: "500 Line too long")."""
    name = clean(name)[:NAME_IN_HEADER].strip()
    address = check_address(address)
    if name.isascii():
        return formataddr((name, address))
    words = encoded_words(name, LINE_MAX - len(header) - 2)
    return (
        "\r\n ".join(words) + ("\r\n " if len(words) > 1 or len(words[0]) + len(address) > 70 else " ") + f"<{address}>"
    )


def feedback_id(settings: Settings, slug: str, kind: str) -> str:
    """Gmail's Feedback-ID ``campaign:kind:list:sender`` (kind ``test`` for test sends)."""
    list_name = parseaddr(settings.list_id)[1] or settings.list_id
    list_key = re.sub(r"[^A-Za-z0-9.-]", "-", list_name.split(".")[0]) or "gll"
    parts = (slug, kind, list_key, settings.feedback_sender_id or "gll-mail")
    return ":".join(re.sub(r"[^A-Za-z0-9._-]", "-", p) for p in parts)


def message_id(campaign_id: int, delivery_id: int, domain: str, secret: str) -> str:
    """Stable per delivery (retries and resends reuse it), unguessable from outside. ``secret`` is
    the *oldest* of GLL_MAIL_SECRET_KEYS: a rotation puts the new key first and keeps the old ones,
    so a retry after a rotation still gets the same Message-ID."""
    tag = hashlib.sha256(f"{secret}:{campaign_id}:{delivery_id}".encode()).hexdigest()[:12]
    return f"<{delivery_id}.{campaign_id}.{tag}@{domain}>"


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def quoted_printable(text: str) -> bytes:
    return binascii.b2a_qp(crlf(text).encode("utf-8"), quotetabs=False, istext=True, header=False)


def base64_lines(text: str) -> bytes:
    """Base64 in 76-character lines: for the large HTML part ~10× faster to make than quoted-printable."""
    encoded = binascii.b2a_base64(crlf(text).encode("utf-8"), newline=False)
    return b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """(headers with their final CRLF, body) of a message built here."""
    end = data.index(b"\r\n\r\n") + 2
    return data[:end], data[end + 2 :]


@dataclass(frozen=True)
class BuiltMessage:
    sender: str  # the VERP envelope sender
    recipient: str
    message_id: str
    data: bytes  # the whole message, CRLF line ends


class MessageBuilder:
    """Builds one campaign's messages; the skeleton of each language is made on first use.

    ``test=True``: test sends of the campaign (their own VERP token, Feedback-ID kind ``test``).
    ``transactional=True``: mail a member asked for (:meth:`build_transactional`), not list mail.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        campaign_id: int,
        slug: str,
        kind: str,
        from_address: str = "",
        signer=None,
        test: bool = False,
        transactional: bool = False,
    ) -> None:
        self.settings = settings
        self.campaign_id = campaign_id
        self.test = test
        self.transactional = transactional
        name, address = parseaddr(from_address or settings.from_address)
        self.from_header = mailbox(name, address, "From")
        self.domain = address.rpartition("@")[2]
        self.list_id = encode_text(settings.list_id, "List-Id")
        self.feedback_id = feedback_id(settings, slug, "test" if test else kind)
        self.bounce_domain = settings.bounce_domain
        self.mailto = f"mailto:unsubscribe@{settings.bounce_domain}?subject=unsubscribe%20"
        self.list_help = f"<mailto:{address}?subject=help>"
        self.list_owner = f"<mailto:{address}>"
        self.list_archive = f"<{clean(settings.list_archive_url)}>" if settings.list_archive_url else ""
        self.secret = settings.secret_keys[-1]
        self.signer = signer
        self._skeletons: dict[str, tuple[bytes, bytes, bytes, bytes]] = {}
        self._plain: dict[str, tuple[bytes, bytes]] = {}
        self._subjects: dict[str, bytes] = {}
        self._date = (0, "")

    def _subject(self, subject: str) -> bytes:
        found = self._subjects.get(subject)
        if found is None:
            found = f"Subject: {encode_text(subject, 'Subject')}\r\n".encode("ascii")
            if len(self._subjects) < 256:  # personalized subjects: keep only a few
                self._subjects[subject] = found
        return found

    def _common(self) -> str:
        """From and the headers every kind of message carries after the list headers."""
        return (
            f"Feedback-ID: {self.feedback_id}\r\n"
            + ("Auto-Submitted: auto-generated\r\n" if self.transactional else "Precedence: bulk\r\n")
            + "MIME-Version: 1.0\r\n"
        )

    def _list_headers(self) -> str:
        if self.transactional:
            return ""
        return (
            f"List-Id: {self.list_id}\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            f"List-Help: {self.list_help}\r\n"
            f"List-Owner: {self.list_owner}\r\n"
            + (f"List-Archive: {self.list_archive}\r\n" if self.list_archive else "")
        )

    def _skeleton(self, language: str) -> tuple[bytes, bytes, bytes, bytes]:
        found = self._skeletons.get(language)
        if found is None:
            boundary = "=_gll_" + secrets.token_hex(12)  # "=_" never occurs in quoted-printable or base64
            head = (
                f"From: {self.from_header}\r\n"
                + self._list_headers()
                + self._common()
                + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
                f"Content-Language: {clean(language_tag(language))}\r\n"
            ).encode("ascii")
            text_head = (
                f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            ).encode()
            html_head = (
                f'\r\n--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
            ).encode()
            tail = f"\r\n--{boundary}--\r\n".encode()
            found = (head, text_head, html_head, tail)
            self._skeletons[language] = found
        return found

    def _plain_skeleton(self, language: str) -> tuple[bytes, bytes]:
        """A message with a text part only (the confirmation email): (headers, end of body)."""
        found = self._plain.get(language)
        if found is None:
            head = (
                f"From: {self.from_header}\r\n"
                + self._list_headers()
                + self._common()
                + 'Content-Type: text/plain; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: quoted-printable\r\n"
                f"Content-Language: {clean(language_tag(language))}\r\n"
            ).encode("ascii")
            found = (head, b"\r\n")
            self._plain[language] = found
        return found

    def _now(self) -> str:
        """RFC 5322 §3.3: ``+0000``, not the obsolete ``GMT``."""
        now = int(time.time())
        if now != self._date[0]:
            self._date = (now, format_datetime(datetime.fromtimestamp(now, UTC)))
        return self._date[1]

    def _finish(self, headers: bytes, body: bytes, sender: str, email: str, mid: str) -> BuiltMessage:
        if self.signer is not None:
            headers = self.signer.sign(headers, body) + headers
        return BuiltMessage(sender, email, mid, headers + CRLF + body)

    def _body(self, rendered: RenderedMessage) -> tuple[bytes, bytes]:
        """(the head of the language's skeleton, the body) of a rendered message."""
        if not rendered.html:
            head, tail = self._plain_skeleton(rendered.language)
            return head, quoted_printable(rendered.text).rstrip(b"\r\n") + tail
        head, text_head, html_head, tail = self._skeleton(rendered.language)
        return head, text_head + quoted_printable(rendered.text) + html_head + base64_lines(rendered.html) + tail

    def build(
        self,
        rendered: RenderedMessage,
        *,
        delivery_id: int,
        name: str,
        email: str,
        unsubscribe_url: str,
        mid: str | None = None,
    ) -> BuiltMessage:
        """One recipient's message. ``unsubscribe_url`` is the signed one-click https URL; ``mid``
        replaces the delivery's own Message-ID (test sends, which have no delivery)."""
        if self.transactional:
            raise MessageError("transactional mail is built with build_transactional()")
        head, body = self._body(rendered)
        mid = clean(mid) if mid else message_id(self.campaign_id, delivery_id, self.domain, self.secret)
        token = unsubscribe_url.rpartition("/")[2]
        if not unsubscribe_url.startswith("https://") and not unsubscribe_url.startswith("http://"):
            raise MessageError("the unsubscribe URL must be absolute")
        per = (
            f"To: {mailbox(name, email)}\r\n"
            f"Date: {self._now()}\r\n"
            f"Message-ID: {mid}\r\n"
            f"List-Unsubscribe: <{clean(unsubscribe_url)}>,\r\n <{self.mailto}{clean(token)}>\r\n"
        ).encode("ascii")
        if self.test:
            verp = make_verp_token(self.settings, self.campaign_id, kind="test")
        else:
            verp = make_verp_token(self.settings, delivery_id)
        sender = f"bounces+{verp}@{self.bounce_domain}"
        return self._finish(head + self._subject(rendered.subject) + per, body, sender, email, mid)

    def build_transactional(
        self, rendered: RenderedMessage, *, subscriber_id: int, name: str, email: str
    ) -> BuiltMessage:
        """A message one member asked for (a confirm link): no List-* headers, a fresh Message-ID,
        and a VERP envelope sender naming the member, so its bounce reaches the suppression list."""
        if not self.transactional:
            raise MessageError("build_transactional() needs MessageBuilder(transactional=True)")
        head, body = self._body(rendered)
        mid = f"<{secrets.token_hex(12)}@{self.domain}>"
        per = (f"To: {mailbox(name, email)}\r\nDate: {self._now()}\r\nMessage-ID: {mid}\r\n").encode("ascii")
        sender = f"bounces+{make_verp_token(self.settings, subscriber_id, kind='member')}@{self.bounce_domain}"
        return self._finish(head + self._subject(rendered.subject) + per, body, sender, email, mid)
