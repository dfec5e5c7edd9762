"""Email address normalization and the privacy-preserving hash used by the suppression list."""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email

from gll_mail.errors import GllMailError


class InvalidAddress(GllMailError, ValueError):
    pass


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
