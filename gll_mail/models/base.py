"""What every table shares: aware UTC times and unguessable public ids."""

import secrets
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    """An unguessable id for URLs and tokens (never the row id)."""
    return secrets.token_urlsafe(16)
