"""Other systems: webhook endpoints and the webhook outbox, REST API tokens and idempotency keys."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from gll_mail.models.base import new_public_id, utcnow


class WebhookEndpoint(SQLModel, table=True):  # a URL told about chosen events, signed (Standard Webhooks)
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=32, unique=True, index=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=300)
    secret: str = Field(max_length=100)  # whsec_<base64>: the key must be kept to sign
    previous_secret: str = Field(default="", max_length=100)  # also signs until previous_until (a rotation)
    previous_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=100)


class WebhookStatus(StrEnum):  # pending: waiting for a (re)try; delivered: answered 2xx; failed: given up
    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class WebhookDelivery(SQLModel, table=True):  # the outbox: event × endpoint, written with the change
    __table_args__ = (Index("ix_webhookdelivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhookendpoint.id", ondelete="CASCADE", index=True)
    message_id: str = Field(max_length=40, index=True)  # the webhook-id: the same for every try and endpoint
    type: str = Field(max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    subscriber_id: int | None = Field(default=None, index=True)  # whose data it holds (scrubbed on erasure)
    created_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default=WebhookStatus.PENDING, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str = Field(default="", max_length=500)
    delivered_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A bearer token of the REST API: only the SHA-256 of its secret is kept. ``user_id`` set: it acts
    as that team account with at most ``role``; None: a service token (which can never approve)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    secret_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)  # the token's first characters, to tell tokens apart in lists
    role: str = Field(max_length=16)
    user_id: int | None = Field(default=None, foreign_key="adminuser.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=100)
    last_used_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)


class IdempotencyRecord(SQLModel, table=True):
    """The stored answer to a POST sent with an ``Idempotency-Key``, per token, until ``expires_at``."""

    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_idempotency_token_key"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="apitoken.id", ondelete="CASCADE")
    key: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)  # method, path and body: the same key with another request is refused
    status: int = Field(default=0)  # 0: the first request is still running
    body: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
