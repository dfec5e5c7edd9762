"""What a mail server's words mean: the RFC 3463 status code in a reply or a DSN, and whether a
permanent failure says that the recipient address itself is bad (never mail it again).

One rule for both sides: the SMTP pool reads a refusal during the send, and bounce classification
reads a returned DSN, with the same functions.
"""

from __future__ import annotations

import re

# Where an enhanced status code (RFC 3463) may be read, and nowhere else: a dotted triple elsewhere
# is an IP address (10.5.1.20), a version or a MIME boundary (=_2.0.13), not a status.
_CODE = r"([245]\.\d{1,3}\.\d{1,3})(?![\d.])"
_CODE_PLACES = (
    re.compile(r"^\s*" + _CODE),  # the text of one SMTP reply
    re.compile(r"^[ \t]*Status:[ \t]*" + _CODE, re.IGNORECASE | re.MULTILINE),  # a DSN field
    re.compile(
        r"(?:^|[\s;:'\"(\[#<])[245]\d\d(?:[ \t]*[-:][ \t]*|[ \t]+)#?" + _CODE, re.MULTILINE
    ),  # 550 5.1.1, 550-5.1.1
    re.compile(r"\(#" + _CODE + r"\)"),  # qmail: (#5.1.1)
)
NO_SUCH_USER = re.compile(
    r"(user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|doesn't exist|"
    r"unknown (recipient|mailbox)|invalid (recipient|mailbox)|mailbox (unavailable|not found|disabled)|"
    r"recipient (address )?rejected: user|account (has been )?disabled|not a valid (user|recipient|address)|"
    r"unknown host|host not found|no such domain|domain not found|no matches to nameserver query|not listed in|user <[^>\s]+> unknown|"
    r"(doesn't|does not) have an? \S+ account)",
    re.IGNORECASE,
)


def enhanced_code(text: str) -> str:
    """The first RFC 3463 status code written where one belongs: at the start of an SMTP reply's
    text, in a ``Status:`` field, after a reply code (``550 5.1.1``, ``550-5.1.1``, ``550: 5.1.1``)
    or in qmail's ``(#5.1.1)``. Any other dotted triple is not a status; "" when there is none."""
    found = [(m.start(1), m.group(1)) for rx in _CODE_PLACES for m in [rx.search(text or "")] if m]
    return min(found)[1] if found else ""


def address_is_bad(code: str, text: str) -> bool:
    """A code about the address (``5.1.x``) or the mailbox (``5.2.x``) decides; any other code
    (policy ``5.7.x``, routing ``5.4.x``, generic ``5.0.0``) only fails the message, unless the
    reply says in words that the address does not exist (Yandex: ``550 5.7.1 No such user!``)."""
    if code:
        _, subject, detail = code.split(".")
        if subject == "1":
            return detail not in ("7", "8")  # 5.1.7 / 5.1.8: the sender's address
        if subject == "2" and detail != "0":
            return detail == "1"  # 5.2.1 disabled; 5.2.2 full, 5.2.3 too large
    return bool(NO_SUCH_USER.search(text or ""))


def generic_code(code: str) -> bool:
    """``5.0.0``, ``5.3.0``, ``5.2.0`` …: a code that names no cause (Postfix writes 5.0.0 for any
    "550 User unknown" without an enhanced code, Sendmail 5.3.0), so the reply's text decides. Not
    ``5.1.0`` (an address status, bad) nor ``5.7.0`` (a policy refusal)."""
    _, subject, detail = code.split(".")
    return detail == "0" and subject not in ("1", "7")


def bad_address(text: str) -> bool:
    """Does a permanent failure say that the recipient address itself is bad, so that it is never
    mailed again? Only a bad mailbox or address says so (RFC 3463 ``5.1.x`` but the sender's
    ``5.1.7``/``5.1.8``, and ``5.2.1`` disabled); a ``5.7.x`` policy, relay or spam refusal, or any
    other ``5.x.x``, fails the message but says nothing about the address unless its text says the
    address does not exist ("user unknown", "no such user" …), which also decides when there is no
    enhanced code. Used for DSNs and SMTP replies alike."""
    return address_is_bad(enhanced_code(text), text)
