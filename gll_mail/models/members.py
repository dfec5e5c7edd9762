"""Members and the catalog: subscribers, topics, pods and their memberships, resources, the never-mail list, imports."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from gll_mail.models.base import new_public_id, utcnow


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


class Suppression(SQLModel, table=True):
    """Addresses never to be mailed. Keyed by the hash so a deleted account leaves no address behind."""

    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(max_length=64, unique=True, index=True)
    email: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=32)  # hard-bounce, complaint, unsubscribe, deleted, manual
    source: str = Field(default="", max_length=32)
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


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
