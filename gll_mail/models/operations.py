"""Running it: inbound messages (bounces, complaints), team accounts and the audit log, worker heartbeats."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from gll_mail.models.base import utcnow


class InboundStatus(StrEnum):
    NEW = "new"  # stored raw, not processed yet
    PROCESSED = "processed"
    FAILED = "failed"  # processing raised; kept for `gll-mail bounces retry`


class InboundMessage(SQLModel, table=True):
    """Every bounce/complaint message exactly as received, stored before it is processed."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow)
    source: str = Field(default="", max_length=300)  # smtp, maildir:..., mbox:..., imap:...
    source_key: str | None = Field(default=None, max_length=300, unique=True)  # idempotent re-scans
    envelope_from: str = Field(default="", max_length=320)
    envelope_to: str = Field(default="", max_length=1000)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default=InboundStatus.NEW, max_length=16, index=True)
    kind: str = Field(default="", max_length=32)  # hard, soft, complaint, auto-reply, ...
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    attempts: int = Field(default=0)
    processed_at: datetime | None = Field(default=None)


class AdminUser(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True, index=True)
    password_hash: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    # raised at sign-out: every session signed in before ends (the cookie is signed, not stored)
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    role: str = Field(default="editor", max_length=16)  # viewer < editor < approver < admin (team/roles.py)
    totp_secret: str | None = Field(default=None, max_length=64)  # base32; None: no second factor
    totp_last_step: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # no code is used twice
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    email: str | None = Field(default=None, max_length=320)  # where the console's test sends "to me" go


class AuditEntry(SQLModel, table=True):
    """One team action: who (kept by name when the account is deleted), when, what, on which object,
    the content hash before and after."""

    __table_args__ = (Index("ix_auditentry_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    user_id: int | None = Field(default=None, foreign_key="adminuser.id", ondelete="SET NULL")
    username: str = Field(default="", max_length=100)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(default="", max_length=32)
    object_id: str = Field(default="", max_length=200)
    hash_before: str = Field(default="", max_length=64)
    hash_after: str = Field(default="", max_length=64)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class WorkerHeartbeat(SQLModel, table=True):
    """One row per running ``gll-mail worker``, written by its scheduler every half minute (so a row
    seen recently proves both the worker and its scheduler alive); removed when the worker stops."""

    owner: str = Field(primary_key=True, max_length=100)
    host: str = Field(default="", max_length=100)
    pid: int = Field(default=0)
    started_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow)
    sent: int = Field(default=0)  # messages this worker sent since it started
