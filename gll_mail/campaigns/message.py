"""Campaign messages as bytes: a MIME skeleton built once per campaign × language, filled per recipient.

:class:`MessageBuilder` encodes everything that is the same for every recipient of a language once
(``From``, ``List-Id``, ``Feedback-ID``, MIME headers, the boundary, the subject when it is not
personalized). ``build()`` then only adds ``To``, ``Date``, the stable ``Message-ID``, the
``List-Unsubscribe`` pair and the two body parts (text quoted-printable, HTML base64).

No header value can carry a line break: every value passes through :func:`clean` (control
characters become spaces) and non-ASCII text is RFC 2047-encoded, so a hostile name such as
``"Eve\\r\\nBcc: x@evil"`` stays inside one ``To`` header.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

from gll_mail.campaigns.render import RenderedMessage
from gll_mail.errors import GllMailError
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


def encode_text(value: str, name: str) -> str:
    """A header value, RFC 2047-encoded when it is not plain ASCII, folded so lines stay short."""
    value = clean(value)
    if value.isascii() and len(value) + len(name) < 76:
        return value
    return Header(value, "utf-8" if not value.isascii() else "us-ascii", header_name=name).encode(linesep="\r\n")


def check_address(address: str) -> str:
    address = address or ""
    if not address.isascii() or not _ADDRESS.match(address):
        raise MessageError(f"not a mailable address: {address!r}")
    return address


NAME_IN_HEADER = 64  # characters of a display name in To/From: 64 emoji still fit well in one line


def mailbox(name: str, address: str) -> str:
    """``Name <address>`` with the name quoted or encoded; never more than one line, and never
    longer than SMTP allows (a 200-emoji name would make a 1,100-character line: "500 Line too long")."""
    return formataddr((clean(name)[:NAME_IN_HEADER].strip(), check_address(address)), charset="utf-8")


def feedback_id(settings: Settings, slug: str, kind: str) -> str:
    """Gmail's Feedback-ID ``campaign:kind:list:sender``."""
    list_name = parseaddr(settings.list_id)[1] or settings.list_id
    list_key = re.sub(r"[^A-Za-z0-9.-]", "-", list_name.split(".")[0]) or "gll"
    parts = (slug, kind, list_key, settings.feedback_sender_id or "gll-mail")
    return ":".join(re.sub(r"[^A-Za-z0-9._-]", "-", p) for p in parts)


def message_id(campaign_id: int, delivery_id: int, domain: str, secret: str) -> str:
    """Stable per delivery (retries and resends reuse it), unguessable from outside."""
    tag = hashlib.sha256(f"{secret}:{campaign_id}:{delivery_id}".encode()).hexdigest()[:12]
    return f"<{delivery_id}.{campaign_id}.{tag}@{domain}>"


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def quoted_printable(text: str) -> bytes:
    return binascii.b2a_qp(crlf(text).encode("utf-8"), quotetabs=False, istext=True, header=False)


def base64_lines(text: str) -> bytes:
    """Base64 in 76-character lines: for the large HTML part ~10× faster to make than quoted-printable."""
    encoded = binascii.b2a_base64(crlf(text).encode("utf-8"), newline=False)
    return b"\r\n".join([encoded[i:i + 76] for i in range(0, len(encoded), 76)])


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """(headers with their final CRLF, body) of a message built here."""
    end = data.index(b"\r\n\r\n") + 2
    return data[:end], data[end + 2:]


@dataclass(frozen=True)
class BuiltMessage:
    sender: str       # the VERP envelope sender
    recipient: str
    message_id: str
    data: bytes       # the whole message, CRLF line ends


class MessageBuilder:
    """Builds one campaign's messages; the skeleton of each language is made on first use."""

    def __init__(self, settings: Settings, *, campaign_id: int, slug: str, kind: str, from_address: str = "",
                 signer=None) -> None:
        self.settings = settings
        self.campaign_id = campaign_id
        name, address = parseaddr(from_address or settings.from_address)
        self.from_header = mailbox(name, address)
        self.domain = address.rpartition("@")[2]
        self.list_id = encode_text(settings.list_id, "List-Id")
        self.feedback_id = feedback_id(settings, slug, kind)
        self.bounce_domain = settings.bounce_domain
        self.mailto = f"mailto:unsubscribe@{settings.bounce_domain}?subject=unsubscribe%20"
        self.secret = settings.secret_keys[0]
        self.signer = signer
        self._skeletons: dict[str, tuple[bytes, bytes, bytes, bytes]] = {}
        self._subjects: dict[str, bytes] = {}
        self._date = (0, "")

    def _subject(self, subject: str) -> bytes:
        found = self._subjects.get(subject)
        if found is None:
            found = f"Subject: {encode_text(subject, 'Subject')}\r\n".encode("ascii")
            if len(self._subjects) < 256:  # personalized subjects: keep only a few
                self._subjects[subject] = found
        return found

    def _skeleton(self, language: str) -> tuple[bytes, bytes, bytes, bytes]:
        found = self._skeletons.get(language)
        if found is None:
            boundary = "=_gll_" + secrets.token_hex(12)  # "=_" never occurs in quoted-printable or base64
            head = (
                f"From: {self.from_header}\r\n"
                f"List-Id: {self.list_id}\r\n"
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
                f"Feedback-ID: {self.feedback_id}\r\n"
                "Precedence: bulk\r\n"
                "MIME-Version: 1.0\r\n"
                f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n"
                f"Content-Language: {clean(language)}\r\n"
            ).encode("ascii")
            text_head = (f"--{boundary}\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
                         "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode()
            html_head = (f"\r\n--{boundary}\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
                         "Content-Transfer-Encoding: base64\r\n\r\n").encode()
            tail = f"\r\n--{boundary}--\r\n".encode()
            found = (head, text_head, html_head, tail)
            self._skeletons[language] = found
        return found

    def _now(self) -> str:
        now = int(time.time())
        if now != self._date[0]:
            self._date = (now, formatdate(now, usegmt=True))
        return self._date[1]

    def build(self, rendered: RenderedMessage, *, delivery_id: int, name: str, email: str,
              unsubscribe_url: str, mid: str | None = None) -> BuiltMessage:
        """One recipient's message. ``unsubscribe_url`` is the signed one-click https URL; ``mid``
        replaces the delivery's own Message-ID (test sends, which have no delivery)."""
        head, text_head, html_head, tail = self._skeleton(rendered.language)
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
        headers = head + self._subject(rendered.subject) + per
        body = text_head + quoted_printable(rendered.text) + html_head + base64_lines(rendered.html) + tail
        if self.signer is not None:
            headers = self.signer.sign(headers, body) + headers
        sender = f"bounces+{make_verp_token(self.settings, delivery_id)}@{self.bounce_domain}"
        return BuiltMessage(sender, email, mid, headers + CRLF + body)
