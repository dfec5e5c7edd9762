"""Which campaigns link to a resource: what changing its access, repointing, archiving or deleting
it affects. Found from each campaign's files on disk and from every revision kept of them, so a
campaign sent from a file that changed since still counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from gll_mail.campaigns.content_hash import linked_slugs
from gll_mail.campaigns.sources import SourceError, load_source
from gll_mail.models import Campaign, CampaignRevision, CampaignStatus
from gll_mail.settings import Settings


@dataclass(frozen=True)
class LinkingCampaign:
    slug: str
    subject: str
    status: str
    send_at: datetime | None
    finished_at: datetime | None

    @property
    def mailed(self) -> bool:
        """Some of its messages may be out already: its links are in people's inboxes."""
        return self.status in (CampaignStatus.SENT, CampaignStatus.SENDING, CampaignStatus.PAUSED)

    def as_dict(self) -> dict:
        return {
            "slug": self.slug,
            "subject": self.subject,
            "status": self.status,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class Impact:
    """The sent campaigns (links in inboxes) and the scheduled ones (links about to be mailed)."""

    sent: tuple[LinkingCampaign, ...]
    scheduled: tuple[LinkingCampaign, ...]

    def __bool__(self) -> bool:
        return bool(self.sent or self.scheduled)

    def lines(self) -> list[str]:
        out = [f"sent {c.slug} ({c.status}): {c.subject}" for c in self.sent]
        out += [
            f"scheduled {c.slug} ({c.status}"
            + (f", {c.send_at:%Y-%m-%d %H:%M}Z" if c.send_at else "")
            + f"): {c.subject}; its approval covers the resource and must be renewed"
            for c in self.scheduled
        ]
        return out

    def as_dict(self) -> dict:
        return {"sent": [c.as_dict() for c in self.sent], "scheduled": [c.as_dict() for c in self.scheduled]}


def _slugs_on_disk(settings: Settings, campaign: Campaign) -> set[str]:
    path = Path(campaign.source_path) if campaign.source_path else settings.campaigns_dir / f"{campaign.slug}.md"
    if not path.is_file():
        path = settings.campaigns_dir / f"{campaign.slug}.md"
    if not path.is_file():
        return set()
    try:
        return linked_slugs(load_source(path, strict=False))[0]
    except (SourceError, OSError, ValueError):
        return set()


def linking_campaigns(settings: Settings, session: Session, slug: str) -> list[LinkingCampaign]:
    """Every campaign (any status) whose files or revisions link to ``resource:slug``."""
    by_revision: set[str] = set()
    for campaign_slug, inputs in session.exec(select(CampaignRevision.slug, CampaignRevision.inputs)):
        if isinstance(inputs, dict) and slug in (inputs.get("resources") or {}):
            by_revision.add(campaign_slug)
    found = []
    for campaign in session.exec(select(Campaign).order_by(Campaign.created_at, Campaign.id)):
        if campaign.slug in by_revision or slug in _slugs_on_disk(settings, campaign):
            found.append(
                LinkingCampaign(
                    campaign.slug, campaign.subject, campaign.status, campaign.send_at, campaign.finished_at
                )
            )
    return found


def resource_impact(settings: Settings, session: Session, slug: str) -> Impact:
    """What a change to the resource affects: the sent and the scheduled campaigns linking to it."""
    linking = linking_campaigns(settings, session, slug)
    return Impact(
        sent=tuple(c for c in linking if c.mailed),
        scheduled=tuple(c for c in linking if c.status == CampaignStatus.SCHEDULED),
    )
