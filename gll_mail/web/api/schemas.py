"""The API's request and response bodies as pydantic models: spectree validates requests with them and
writes them into the OpenAPI 3.1 document. Responses allow extra fields (the domain's own dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

LANG = r"^(en|fr|es|ar|zh|ru)$"
SLUG = r"^[a-z0-9][a-z0-9-]{0,99}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- common -----------------------------------------------------------------------------------


class ProblemBody(Open):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str = ""


class Done(Open):
    changed: bool


class PageQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, pattern=r"^\d{1,9}$", description="next_cursor of the previous page")


# --- subscribers ----------------------------------------------------------------------------------


class MemberQuery(PageQuery):
    q: str = Field("", max_length=320, description="start of an address, or part of a name or organization")
    country: str = Field("", max_length=100)
    organization: str = Field("", max_length=200)
    pod: str = Field("", pattern=r"^$|" + SLUG)
    topic: str = Field("", pattern=r"^$|" + SLUG)
    status: str = Field("", pattern=r"^(|active|unsubscribed|bounced|complained|pending)$")
    language: str = Field("", pattern=r"^$|" + LANG[1:])


class MemberRow(Open):
    id: int
    public_id: str
    email: str | None = None
    status: str


class MemberPage(Open):
    items: list[MemberRow]
    next_cursor: str | None


class MemberFields(Strict):
    name: str | None = Field(None, max_length=200)
    organization: str | None = Field(None, max_length=200)
    country: str | None = Field(None, max_length=100)
    role: str | None = Field(None, max_length=200)
    language: str | None = Field(None, pattern=LANG)


class MemberCreate(MemberFields):
    email: str = Field(max_length=320, min_length=3)
    topics: list[str] = Field(default_factory=list, max_length=50)
    pods: list[str] = Field(default_factory=list, max_length=50)


class BatchRecord(MemberFields):
    email: str = Field(max_length=320)


class MemberBatch(Strict):
    subscribers: list[BatchRecord] = Field(min_length=1, max_length=5000)
    topics: list[str] = Field(default_factory=list, max_length=50)
    pods: list[str] = Field(default_factory=list, max_length=50)


class RowProblemOut(Open):
    line: int
    email: str
    reason: str


class BatchReport(Open):
    imported: int
    updated: int
    unchanged: int
    skipped: int
    problems: list[RowProblemOut]


class Member(Open):
    """Everything about one member: profile, consent, topics, pods with history, events, deliveries."""

    id: int
    public_id: str
    status: str


class Memberships(Open):
    items: list[dict[str, Any]]


class Reason(Strict):
    reason: str = Field("", max_length=500)


class Export(Open):
    pass


# --- topics, pods, resources, suppressions -------------------------------------------------------------


class Texts(RootModel[dict[str, str | None]]):
    pass


class NamedCreate(Strict):
    slug: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    names: dict[str, str | None] | None = None
    descriptions: dict[str, str | None] | None = None


class NamedUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    names: dict[str, str | None] | None = None
    descriptions: dict[str, str | None] | None = None


class Named(Open):
    slug: str
    name: str
    archived: bool


class NamedList(Open):
    items: list[Named]


class ArchivedQuery(Strict):
    archived: bool = False


class Roster(Open):
    items: list[dict[str, Any]]


class ResourceCreate(Strict):
    slug: str = Field(pattern=SLUG)
    title: str = Field(min_length=1, max_length=300)
    access: str = Field("registered", max_length=120, description="public, registered or pod:SLUG")
    url: str | None = Field(None, max_length=2000)
    file: str | None = Field(None, max_length=500, description="a path inside GLL_MAIL_RESOURCES_DIR")
    titles: dict[str, str | None] | None = None


class ResourceUpdate(Strict):
    title: str | None = Field(None, min_length=1, max_length=300)
    titles: dict[str, str | None] | None = None
    url: str | None = Field(None, max_length=2000)
    file: str | None = Field(None, max_length=500)
    access: str | None = Field(None, max_length=120)
    confirmed: bool = Field(False, description="the access change's impact on linking campaigns was seen")


class ResourceOut(Open):
    slug: str
    title: str
    access: str


class ResourceList(Open):
    items: list[ResourceOut]


class ArchiveBody(Strict):
    moved_to: str | None = Field(None, max_length=2000)


class SuppressionQuery(PageQuery):
    q: str = Field("", max_length=320)
    reason: str = Field("", pattern=r"^(|hard-bounce|soft-bounce|complaint|unsubscribe|deleted|manual)$")


class SuppressionOut(Open):
    email_hash: str
    reason: str


class SuppressionPage(Open):
    items: list[SuppressionOut]
    next_cursor: str | None


class SuppressionAdd(Strict):
    email: str = Field(min_length=3, max_length=320)
    reason: str = Field("manual", max_length=32)
    note: str = Field(min_length=1, max_length=500)


class SuppressionRemove(Strict):
    email: str = Field(min_length=3, max_length=320)
    note: str = Field(min_length=1, max_length=500)


# --- campaigns ----------------------------------------------------------------------------------------


class CampaignRowOut(Open):
    slug: str
    status: str


class CampaignList(Open):
    items: list[CampaignRowOut]


class CampaignOut(Open):
    slug: str
    status: str
    files: dict[str, str]
    files_hash: str


class CampaignCreate(Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")
    files: dict[str, str] = Field(description="language → the full text of its file (front matter and body)")


class SourcesUpdate(Strict):
    files: dict[str, str | None] = Field(description="language → full text; null or empty removes a translation")


class Revision(Open):
    revision: int
    content_hash: str


class Preflight(Open):
    ok: bool
    problems: list[dict[str, Any]]


class PreviewQuery(Strict):
    language: str | None = Field(None, pattern=LANG)


class Preview(Open):
    subject: str
    html: str
    text: str


class Note(Strict):
    note: str = Field("", max_length=1000)
    hash: str | None = Field(None, max_length=64, description="the content hash you reviewed (or its start)")


class ApprovalOut(Open):
    decision: str
    content_hash: str


class ScheduleBody(Strict):
    send_at: str | None = Field(None, max_length=40, description="ISO 8601; empty: the time in the front matter")


class Status(Open):
    status: str


class Report(Open):
    pass
