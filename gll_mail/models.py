"""The data model. Tables only; domain logic lives in the modules named for each step.

All times are timezone-aware UTC (``utcnow()``); SQLModel stores them as UTC on SQLite and
PostgreSQL alike and gives them back aware.
"""

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    """An unguessable id for URLs and tokens (never the row id)."""
    return secrets.token_urlsafe(16)


class SubscriberStatus(StrEnum):
    PENDING = "pending"  # asked to register, has not confirmed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# Made by migration 0014 on PostgreSQL only, outside the metadata: the trigram index needs the pg_trgm
# extension, which a database may refuse. The team's member search (members/directory.py) uses them:
# the address prefix (text_pattern_ops), and a part of SEARCH_TEXT_SQL (name, address, organization
# joined by chr(1), which search text cannot hold, so a match never spans two fields).
POSTGRES_SEARCH_INDEXES = ("ix_subscriber_email_pattern", "ix_subscriber_search_trgm")
SEARCH_TEXT_SQL = (
    "(subscriber.name::text || chr(1) || subscriber.email::text || chr(1) || subscriber.organization::text)"
)


class Subscriber(SQLModel, table=True):
    __table_args__ = (  # the team's member search filters on these, newest first (keyset paging on id)
        Index("ix_subscriber_country_id", "country", "id"),
        Index("ix_subscriber_language_id", "language", "id"),
        Index("ix_subscriber_organization_id", "organization", "id"),
        Index("ix_subscriber_status_id", "status", "id"),
        # audience counts (campaigns page, editor): the mailable members by language, from the index alone
        Index("ix_subscriber_mailable", "status", "paused", "language", "registered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=32, unique=True, index=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    language: str = Field(default="en", max_length=8)
    country: str = Field(default="", max_length=100)
    organization: str = Field(default="", max_length=200)
    role: str = Field(default="", max_length=200)
    status: str = Field(default=SubscriberStatus.ACTIVE, max_length=16, index=True)
    paused: bool = Field(default=False)  # "pause all mail" from the manage page
    registered_at: datetime | None = Field(default=None)
    consent_source: str = Field(default="", max_length=32)  # import, web-register, admin, ...
    consent_at: datetime | None = Field(default=None)
    consent_ip: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

    @property
    def is_registered(self) -> bool:
        return self.registered_at is not None

    @property
    def is_mailable(self) -> bool:
        return self.status == SubscriberStatus.ACTIVE and not self.paused


class Topic(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
    # translations of the name and description: {language: text} for fr, es, ar, zh, ru (English above)
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    descriptions: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    archived_at: datetime | None = Field(default=None)  # hidden from members; history and links kept
    updated_at: datetime | None = Field(default=None)


class Subscription(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("subscriber_id", "topic_id", name="uq_subscription"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", ondelete="CASCADE", index=True)
    topic_id: int = Field(foreign_key="topic.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Pod(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
    # translations of the name and description: {language: text} for fr, es, ar, zh, ru (English above)
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    descriptions: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    archived_at: datetime | None = Field(default=None)  # hidden from members; history and links kept
    updated_at: datetime | None = Field(default=None)


class PodMembership(SQLModel, table=True):
    """One row per stay in a pod; leaving sets ``left_at`` and rejoining adds a new row."""

    __table_args__ = (
        Index(
            "uq_active_pod_membership",
            "subscriber_id",
            "pod_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", ondelete="CASCADE", index=True)
    pod_id: int = Field(foreign_key="pod.id", ondelete="CASCADE", index=True)
    joined_at: datetime = Field(default_factory=utcnow)
    left_at: datetime | None = Field(default=None)


class Resource(SQLModel, table=True):
    """A gated resource. ``access`` is ``public``, ``registered`` or ``pod:<slug>``.

    The target is either an absolute ``url`` or a ``file_path`` relative to the resources folder.
    Links carry the slug, never the target: repointing a resource moves every link already mailed.
    """

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    title: str = Field(max_length=300)
    url: str | None = Field(default=None, max_length=2000)
    file_path: str | None = Field(default=None, max_length=500)
    access: str = Field(default="registered", max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    titles: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    archived_at: datetime | None = Field(default=None)  # its links open a page saying where it went
    moved_to: str | None = Field(default=None, max_length=2000)  # that place, when there is one
    updated_at: datetime | None = Field(default=None)


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


class Suppression(SQLModel, table=True):
    """Addresses never to be mailed. Keyed by the hash so a deleted account leaves no address behind."""

    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(max_length=64, unique=True, index=True)
    email: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=32)  # hard-bounce, complaint, unsubscribe, deleted, manual
    source: str = Field(default="", max_length=32)
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


# --- Bounces, complaints and reports ----------------------------------------------------------


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


# --- Team console ----------------------------------------------------------------------------


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


# --- Delivery engine -------------------------------------------------------------------------


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


# --- Operations ------------------------------------------------------------------------------


class WorkerHeartbeat(SQLModel, table=True):
    """One row per running ``gll-mail worker``, written by its scheduler every half minute (so a row
    seen recently proves both the worker and its scheduler alive); removed when the worker stops."""

    owner: str = Field(primary_key=True, max_length=100)
    host: str = Field(default="", max_length=100)
    pid: int = Field(default=0)
    started_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow)
    sent: int = Field(default=0)  # messages this worker sent since it started


# --- Imports from the console -----------------------------------------------------------------


class ImportStatus(StrEnum):
    UPLOADED = "uploaded"  # stored, previewed; nothing checked yet
    CHECKING = "checking"  # dry run under way
    CHECKED = "checked"  # dry run done: ``report`` lists every problem
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the file as a whole could not be imported (``error`` says why)


class ImportJob(SQLModel, table=True):
    """One member list uploaded to the console, run by the same importer as `subscribers import`.
    Its state lives here, so a page reload (or another web process) sees the same progress."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    user_id: int | None = Field(default=None, foreign_key="adminuser.id", ondelete="SET NULL")
    username: str = Field(default="", max_length=100)
    file_name: str = Field(max_length=300)  # as uploaded
    stored_path: str = Field(max_length=1000)  # the copy kept for the runs
    status: str = Field(default=ImportStatus.UPLOADED, max_length=16, index=True)
    source: str = Field(default="", max_length=300)  # how the file was read: encoding, separator
    mapping: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # header → field
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # topics, pods …
    total_rows: int = Field(default=0)
    processed_rows: int = Field(default=0)
    imported: int = Field(default=0)
    updated: int = Field(default=0)
    unchanged: int = Field(default=0)
    skipped: int = Field(default=0)
    dry_run: bool = Field(default=False)  # the last run was a dry run
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # problems, warnings
    error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    started_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)
    # a run renews this after every batch; a checking or running job past it was interrupted (its
    # process stopped) and is resumed from the kept upload (members/imports.py, resume_interrupted)
    lease_until: datetime | None = Field(default=None)
    resumed: int = Field(default=0)  # how many times a run was resumed after an interruption
