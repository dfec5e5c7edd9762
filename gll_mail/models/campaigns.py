"""Campaigns and their sending: campaign rows, deliveries (the outbox), the event ledger, revisions and approvals, send rates and slots."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from gll_mail.models.base import utcnow


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=128, unique=True, index=True)
    kind: str = Field(default="announcement", max_length=32)
    subject: str = Field(max_length=300)
    status: str = Field(default=CampaignStatus.DRAFT, max_length=16, index=True)
    source_path: str = Field(default="", max_length=500)
    source_hash: str = Field(default="", max_length=64)
    template: str = Field(default="", max_length=200)
    from_address: str = Field(default="", max_length=320)
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    corrects_id: int | None = Field(default=None, foreign_key="campaign.id")
    send_at: datetime | None = Field(default=None)
    started_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)
    paused_reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # waiting (also after a retryable failure, until next_attempt_at)
    SENDING = "sending"  # claimed by a worker until lease_expires_at
    SENT = "sent"
    FAILED = "failed"  # permanently (5xx, or retries exhausted)
    SUPPRESSED = "suppressed"  # not sent: unsubscribed, bounced or suppressed after enqueue
    CANCELLED = "cancelled"

    @classmethod
    def final(cls) -> tuple[str, ...]:
        return (cls.SENT, cls.FAILED, cls.SUPPRESSED, cls.CANCELLED)


class Delivery(SQLModel, table=True):
    """The outbox: one row per campaign × subscriber, claimed with a lease by a delivery worker.

    A member who deletes their account leaves their rows without a subscriber (and without the
    server's reply, which may quote the address): a campaign's figures do not change afterwards."""

    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_delivery"),
        Index("ix_delivery_claim", "campaign_id", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", ondelete="CASCADE")
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", ondelete="SET NULL", index=True)
    status: str = Field(default=DeliveryStatus.QUEUED, max_length=16)
    language: str = Field(default="en", max_length=8)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = Field(default=None)
    message_id: str | None = Field(default=None, max_length=300)
    smtp_code: int | None = Field(default=None)
    last_error: str = Field(default="", max_length=1000)
    possible_duplicate: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None)


class EventType(StrEnum):
    SUBSCRIBED = "subscribed"
    IMPORTED = "imported"
    REGISTERED = "registered"
    CONFIRMED = "confirmed"
    CLICK = "click"
    OPEN = "open"  # only with GLL_MAIL_OPEN_TRACKING; unreliable by nature
    POD_JOINED = "pod-joined"
    POD_LEFT = "pod-left"
    TOPIC_ADDED = "topic-added"
    TOPIC_REMOVED = "topic-removed"
    PROFILE_CHANGED = "profile-changed"
    PAUSED = "paused"
    RESUMED = "resumed"
    UNSUBSCRIBED = "unsubscribed"
    DELETED = "deleted"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    POSSIBLE_DUPLICATE = "possible-duplicate"
    BOUNCE_HARD = "bounce-hard"
    BOUNCE_SOFT = "bounce-soft"
    COMPLAINT = "complaint"
    BOUNCE_IGNORED = "bounce-ignored"  # an inbound message that changed nothing: auto-reply, forged, unmatched …
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"


class Event(SQLModel, table=True):
    __table_args__ = (
        Index("ix_event_campaign_type", "campaign_id", "type"),
        Index("ix_event_subscriber", "subscriber_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    source: str = Field(default="", max_length=32)  # web, cli, import, smtp, bounce, worker ...
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", ondelete="SET NULL")
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", ondelete="SET NULL")
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id", ondelete="SET NULL")
    resource_id: int | None = Field(default=None, foreign_key="resource.id", ondelete="SET NULL")
    pod_id: int | None = Field(default=None, foreign_key="pod.id", ondelete="SET NULL")
    is_bot: bool = Field(default=False)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CampaignRevision(SQLModel, table=True):
    """A snapshot of a campaign's files (``files``: language -> full text) and of everything else its
    content hash covers (``inputs``: file digests, layout files, linked resources and pods)."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=128, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    author_id: int | None = Field(default=None, foreign_key="adminuser.id", ondelete="SET NULL")
    author: str = Field(default="", max_length=100)  # "" : found on disk (written by hand)
    content_hash: str = Field(max_length=64, index=True)
    files: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Approval(SQLModel, table=True):
    """A request for approval, an approval or a rejection of one content hash of a campaign."""

    __table_args__ = (Index("ix_approval_slug_hash", "slug", "content_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=128)
    revision_id: int | None = Field(default=None, foreign_key="campaignrevision.id", ondelete="SET NULL")
    content_hash: str = Field(max_length=64)
    decision: str = Field(max_length=16)  # requested, approved, rejected
    user_id: int | None = Field(default=None, foreign_key="adminuser.id", ondelete="SET NULL")
    username: str = Field(default="", max_length=100)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
    voided_at: datetime | None = Field(default=None)
    void_reason: str = Field(default="", max_length=500)


class SendRate(SQLModel, table=True):
    """Shared rate limits: per key (``global``, ``domain:example.org``) the next free send time.

    Workers reserve time slots by moving ``next_at`` forward in one atomic UPDATE, so a limit holds
    for all worker processes together, on one machine or many.
    """

    key: str = Field(primary_key=True, max_length=300)
    next_at: float = Field(default=0.0)  # Unix time of the next free slot


class Attempt(SQLModel, table=True):
    """Counted attempts (sign-ins, registrations) of one client in one time window, shared by every
    web process: ``key`` is a keyed digest of the client address, never the address itself."""

    __tablename__ = "attempt"

    bucket: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=32)
    slot: int = Field(primary_key=True)  # Unix time // window
    count: int = Field(default=0)


class SendSlot(SQLModel, table=True):
    """Shared concurrency limits: one row per slot of a key; a holder keeps it until ``expires_at``."""

    __table_args__ = (UniqueConstraint("key", "slot", name="uq_sendslot"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300)
    slot: int = Field(default=0)
    holder: str | None = Field(default=None, max_length=100)
    expires_at: float = Field(default=0.0)
