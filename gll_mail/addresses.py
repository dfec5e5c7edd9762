"""Email address normalization, the privacy-preserving hash used by the suppression list, and the
one rule for every other text stored beside an address (``clean_text``)."""

from __future__ import annotations

import hashlib
import re

from email_validator import EmailNotValidError, validate_email

from gll_mail.errors import GllMailError


class InvalidAddress(GllMailError, ValueError):
    pass


# NUL and the other C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, zero-width
# characters and lone surrogates. Tab, line breaks and the other control characters Python counts as
# whitespace are not listed: they become one space, like every other run of whitespace.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def clean_text(value: str | None) -> str:
    """The rule for every member or catalog text we store (names, countries, organizations, roles,
    titles), wherever it comes from: controls, bidi overrides and zero-width characters are removed,
    whitespace runs become one space, the ends are trimmed.

    PostgreSQL refuses NUL in text, SQLite keeps it: without this the same input is stored on one and
    crashes the other. Bidi overrides let a name display as something else (``\u202e``), and
    zero-width characters make two equal-looking names differ.
    """
    if not value:
        return ""
    return " ".join(_INVISIBLE.sub("", value).split())


def normalize_email(value: str, *, check_deliverability: bool = False) -> str:
    """Validate and normalize an address: trimmed, IDNA domain, lower-cased.

    The local part is lower-cased too: nearly every mailbox provider treats it case-insensitively,
    and one member must not be able to exist twice as ``Ana@x.org`` and ``ana@x.org``.
    """
    raw = (value or "").strip()
    if not raw:
        raise InvalidAddress("email is empty")
    if any(ch in raw for ch in "\r\n\0"):
        raise InvalidAddress("email contains a line break or NUL")
    try:
        result = validate_email(raw, check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


def email_hash(normalized_email: str) -> str:
    """SHA-256 of the normalized address: what the suppression list keeps after an account is deleted."""
    return hashlib.sha256(normalized_email.encode("utf-8")).hexdigest()


def domain_of(normalized_email: str) -> str:
    return normalized_email.rsplit("@", 1)[1]
