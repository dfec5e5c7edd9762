"""Standard Webhooks signatures: ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``id.timestamp.body``, with a secret ``whsec_<base64 key>``. During a rotation the previous secret
signs too, so a receiver that still holds it goes on verifying (signatures separated by spaces)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from gll_mail.errors import GllMailError

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise GllMailError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX) :])


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): the same on every try."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one try, signed with each secret given (newest first)."""
    return {
        "content-type": "application/json",
        "user-agent": "gll-mail-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_ if s),
    }
