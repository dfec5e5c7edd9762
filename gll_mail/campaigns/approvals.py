"""Four-eyes approval: a second person signs off the exact content that goes out.

An editor requests approval of the current revision; an approver who is not one of its authors
approves or rejects it, with a note. An approval binds to one content hash
(:mod:`gll_mail.campaigns.content_hash`): any change to a file, the layout or a link's target makes
a new hash, and the approvals of the old one are void. ``GLL_MAIL_APPROVALS_REQUIRED``
(``Settings.required_approvals``) says how many approvals the current hash needs before the
campaign may be scheduled, sent or launched (:func:`require_approved`). Every request, approval,
rejection and voiding goes to the audit log.

The authors of a revision are the people who saved a revision since the last one somebody approved,
and whoever asked for the approval of any of those revisions (a campaign written by hand has no
saved author: the person who sends it for approval answers for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from gll_mail.campaigns.content_hash import content_hash
from gll_mail.campaigns.revisions import (
    base_file,
    current_revision,
    diff,
    latest_revision,
)
from gll_mail.campaigns.sources import CampaignSource, load_source
from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser, Approval, CampaignRevision, utcnow
from gll_mail.settings import Settings
from gll_mail.team import audit
from gll_mail.team.roles import PermissionDenied, require

REQUESTED, APPROVED, REJECTED = "requested", "approved", "rejected"


class ApprovalRequired(GllMailError):
    """The campaign's current content lacks the approvals GLL_MAIL_APPROVALS_REQUIRED asks for."""


@dataclass
class ApprovalState:
    slug: str
    required: int
    content_hash: str
    revision: CampaignRevision
    approvals: list[Approval] = field(default_factory=list)  # of the current hash
    rejections: list[Approval] = field(default_factory=list)  # of the current hash
    requests: list[Approval] = field(default_factory=list)  # of the current hash
    voided: list[Approval] = field(default_factory=list)  # of earlier hashes, newest first
    authors: list[str] = field(default_factory=list)  # who may not approve this revision
    last_approved: CampaignRevision | None = None  # the newest revision anyone approved
    changes: dict[str, str] = field(default_factory=dict)  # diff from last_approved to revision

    @property
    def approved(self) -> bool:
        return not self.rejections and len(self.approvals) >= self.required

    @property
    def short_hash(self) -> str:
        return self.content_hash[:8]

    def summary(self) -> str:
        if self.rejections:
            last = self.rejections[-1]
            return f"rejected by {last.username}: {last.note}"
        if self.approved:
            return (
                f"approved ({len(self.approvals)} of {self.required} required)"
                if self.required
                else "no approval required"
            )
        return (
            f"needs {self.required - len(self.approvals)} more approval(s) ({len(self.approvals)} of {self.required})"
        )


def _rows(session: Session, slug: str, content: str | None = None, *, voided: bool = False) -> list[Approval]:
    query = select(Approval).where(Approval.slug == slug)
    query = query.where(Approval.voided_at.is_not(None) if voided else Approval.voided_at.is_(None))
    if content is not None:
        query = query.where(Approval.content_hash == content)
    return list(session.exec(query.order_by(Approval.id)))


def _last_approved(session: Session, slug: str, before_id: int) -> CampaignRevision | None:
    approved_hashes = select(Approval.content_hash).where(Approval.slug == slug, Approval.decision == APPROVED)
    return session.exec(
        select(CampaignRevision)
        .where(
            CampaignRevision.slug == slug,
            CampaignRevision.id < before_id,
            CampaignRevision.content_hash.in_(approved_hashes),
        )
        .order_by(CampaignRevision.id.desc())
    ).first()


def _authors(session: Session, revision: CampaignRevision) -> dict[int | None, str]:
    """user id → name of everyone who wrote ``revision`` (see the module's docstring)."""
    since = _last_approved(session, revision.slug, revision.id)
    query = select(CampaignRevision.author_id, CampaignRevision.author, CampaignRevision.content_hash).where(
        CampaignRevision.slug == revision.slug, CampaignRevision.id <= revision.id
    )
    if since is not None:
        query = query.where(CampaignRevision.id > since.id)
    written = list(session.exec(query))  # the columns only: a long history's files stay unread
    found = {r.author_id: r.author for r in written if r.author_id is not None}
    hashes = {r.content_hash for r in written} | {revision.content_hash}
    requests = select(Approval).where(
        Approval.slug == revision.slug, Approval.decision == REQUESTED, Approval.content_hash.in_(sorted(hashes))
    )
    if since is not None:
        requests = requests.where(Approval.created_at >= since.created_at)
    for row in session.exec(requests):
        if row.user_id is not None:
            found[row.user_id] = row.username
    return found


def _revision(settings: Settings, session: Session, slug: str, clock) -> CampaignRevision:
    load_source(base_file(settings, slug))  # a campaign with an error in its files cannot be approved
    return current_revision(settings, session, slug, clock=clock)


def _decide(
    settings: Settings,
    session: Session,
    user: AdminUser,
    slug: str,
    decision: str,
    note: str,
    expected_hash: str | None,
    clock,
) -> Approval:
    require(user, "campaign.approve" if decision == APPROVED else "campaign.reject")
    revision = _revision(settings, session, slug, clock)
    if expected_hash and not revision.content_hash.startswith(expected_hash):
        raise GllMailError(
            f"campaign {slug} changed since you reviewed it (now {revision.content_hash[:8]}, "
            f"you saw {expected_hash[:8]}): review it again"
        )
    if user.id in _authors(session, revision):
        raise PermissionDenied(
            f"you wrote this revision of {slug} ({revision.content_hash[:8]}); another approver must sign off"
        )
    mine = [
        r
        for r in _rows(session, slug, revision.content_hash)
        if r.user_id == user.id and r.decision in (APPROVED, REJECTED)
    ]
    if mine:
        raise GllMailError(
            f"you have already {mine[-1].decision} this revision of {slug} ({revision.content_hash[:8]})"
        )
    return _record(
        session,
        user,
        slug,
        revision,
        decision,
        note,
        clock,
        f"campaign.{'approve' if decision == APPROVED else 'reject'}",
    )


def _record(session, user, slug, revision, decision, note, clock, action) -> Approval:
    """One request or decision on ``revision``, and its line in the audit log."""
    row = Approval(
        slug=slug,
        revision_id=revision.id,
        content_hash=revision.content_hash,
        decision=decision,
        user_id=user.id,
        username=user.username,
        note=note,
        created_at=clock(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        user,
        action,
        clock=clock,
        object_type="campaign",
        object_id=slug,
        hash_after=revision.content_hash,
        note=note,
        details={"revision": revision.id},
    )
    return row


def request(
    settings: Settings,
    session: Session,
    user: AdminUser,
    slug: str,
    note: str = "",
    *,
    clock: Callable[[], datetime] = utcnow,
) -> Approval:
    """Ask for the current revision's approval; the requester counts as one of its authors."""
    require(user, "campaign.request-approval")
    revision = _revision(settings, session, slug, clock)
    return _record(session, user, slug, revision, REQUESTED, note, clock, "campaign.request-approval")


def approve(
    settings: Settings,
    session: Session,
    user: AdminUser,
    slug: str,
    note: str = "",
    *,
    expected_hash: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Approval:
    """Approve the current revision (``expected_hash``: the hash, or its start, the approver reviewed)."""
    return _decide(settings, session, user, slug, APPROVED, note, expected_hash, clock)


def reject(
    settings: Settings,
    session: Session,
    user: AdminUser,
    slug: str,
    note: str,
    *,
    expected_hash: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Approval:
    """Reject the current revision, saying why; it cannot be sent until its content changes."""
    if not (note or "").strip():
        raise GllMailError("say why in a note: the editor needs it to fix the campaign")
    return _decide(settings, session, user, slug, REJECTED, note.strip(), expected_hash, clock)


def state(settings: Settings, session: Session, slug: str, *, clock: Callable[[], datetime] = utcnow) -> ApprovalState:
    """Where the campaign's approval stands, for its current content."""
    revision = current_revision(settings, session, slug, clock=clock)
    rows = _rows(session, slug, revision.content_hash)
    last = _last_approved(session, slug, revision.id + 1)
    found = ApprovalState(
        slug=slug,
        required=settings.required_approvals,
        content_hash=revision.content_hash,
        revision=revision,
        approvals=[r for r in rows if r.decision == APPROVED],
        rejections=[r for r in rows if r.decision == REJECTED],
        requests=[r for r in rows if r.decision == REQUESTED],
        voided=list(reversed(_rows(session, slug, voided=True)))[:20],
        authors=sorted(set(_authors(session, revision).values())),
        last_approved=last,
    )
    if last is not None and last.id != revision.id:
        found.changes = diff(last, revision)
    return found


def require_approved(
    settings: Settings, session: Session, source: CampaignSource, *, clock: Callable[[], datetime] = utcnow
) -> str:
    """The content hash of ``source`` when it has the approvals it needs; else :class:`ApprovalRequired`
    in one line. Call before scheduling, before sending, and when the worker launches a campaign."""
    required = settings.required_approvals
    content = content_hash(settings, session, source)
    if required <= 0:
        return content
    latest = latest_revision(session, source.slug)
    if latest is None or latest.content_hash != content:
        current_revision(settings, session, source.slug, clock=clock)  # keeps the revision, voids the old approvals
    rows = _rows(session, source.slug, content)
    approvals = [r for r in rows if r.decision == APPROVED]
    rejections = [r for r in rows if r.decision == REJECTED]
    if rejections:
        raise ApprovalRequired(
            f"campaign {source.slug} was rejected by {rejections[-1].username} "
            f"(hash {content[:8]}): {rejections[-1].note} — change it, then ask again: "
            f"gll-mail campaign request-approval {source.slug} --as YOU"
        )
    if len(approvals) < required:
        raise ApprovalRequired(
            f"campaign {source.slug} needs {required} approval{'s' if required != 1 else ''} of its current "
            f"content (hash {content[:8]}); it has {len(approvals)} — ask an approver: "
            f"gll-mail campaign approvals {source.slug}"
        )
    return content
