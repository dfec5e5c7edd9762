"""Keep the ``Campaign`` row in step with its source file.

A draft or scheduled campaign follows its source. Once sending has started the content is frozen:
syncing the same content again is harmless, changed content is refused (write a corrigendum).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from gll_mail.campaigns.sources import CampaignSource
from gll_mail.db import ReadCache
from gll_mail.errors import GllMailError
from gll_mail.i18n import translator
from gll_mail.languages import LANGUAGES
from gll_mail.models import Campaign, CampaignStatus, utcnow

FROZEN = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SENT)


class CampaignError(GllMailError):
    pass


def effective_subject(source: CampaignSource, language: str = "en") -> str:
    """The variant's subject; a corrigendum's gets the "Corrigendum: " prefix when it lacks one."""
    subject = source.variant(language).subject or source.subject
    if source.kind == "corrigendum" and not has_corrigendum_prefix(subject):
        subject = _with_prefix(language if language in source.variants else "en", subject)
    return subject


def _with_prefix(language: str, subject: str) -> str:
    # Translators: the subject line of a corrigendum; %(subject)s is its subject as the author wrote it.
    return translator(language).gettext("Corrigendum: %(subject)s", subject=subject)


def has_corrigendum_prefix(subject: str) -> bool:
    """Whether ``subject`` already starts with "Corrigendum" in one of the six languages."""
    head = subject.strip().lower()
    prefixes = {_with_prefix(code, "\0").partition("\0")[0].strip(" :：").lower() for code in LANGUAGES}
    return any(head.startswith(prefix) for prefix in prefixes if prefix)


def get_campaign(session: Session, slug: str) -> Campaign | None:
    return session.exec(select(Campaign).where(Campaign.slug == slug)).first()


def list_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, oldest first."""
    return list(session.exec(select(Campaign).order_by(Campaign.created_at)))


# A campaign, once it exists, is never renumbered: remember only that it exists.
EXISTING = ReadCache(30.0, keep_missing=False)


def campaign_exists(connection: Connection, campaign_id: int) -> bool:
    def load() -> bool | None:
        return connection.execute(select(Campaign.id).where(Campaign.id == campaign_id)).first() is not None or None

    return bool(EXISTING.get(connection.engine, campaign_id, load))


def linked_campaign(connection: Connection, value: object) -> int | None:
    """The campaign id a signed link carries (``c``), when that campaign exists, else None: events
    name the campaign that led to them, never a deleted one."""
    if isinstance(value, int) and not isinstance(value, bool) and campaign_exists(connection, value):
        return value
    return None


def sync_campaign(session: Session, source: CampaignSource) -> Campaign:
    """Create or update the campaign row for ``source``; refuse to change one that has started sending."""
    campaign = get_campaign(session, source.slug)
    corrects_id = None
    if source.corrects:
        original = get_campaign(session, source.corrects)
        if original is None:
            raise CampaignError(
                f"{source.slug} corrects {source.corrects!r}, which is not in the database; send the original first"
            )
        corrects_id = original.id
    values = {
        "kind": source.kind,
        "subject": effective_subject(source),
        "template": source.template,
        "from_address": source.from_address or "",
        "audience": dict(source.audience),
        "corrects_id": corrects_id,
        "send_at": source.send_at,
        "source_path": str(source.path),
        "source_hash": source.source_hash,
    }
    if campaign is None:
        campaign = Campaign(slug=source.slug, **values)
        session.add(campaign)
        session.flush()
        return campaign
    if campaign.status in FROZEN:
        if campaign.source_hash and campaign.source_hash != source.source_hash:
            raise CampaignError(
                f"campaign {source.slug} is {campaign.status}: its source changed after sending started. "
                "Restore the sent text, or send a corrigendum (kind: corrigendum, corrects: "
                f"{source.slug})."
            )
        if not campaign.source_path:
            campaign.source_path = str(source.path)
            session.add(campaign)
            session.flush()
        return campaign
    changed = False
    for key, value in values.items():
        if getattr(campaign, key) != value:
            setattr(campaign, key, value)
            changed = True
    if changed:
        campaign.updated_at = utcnow()
        session.add(campaign)
        session.flush()
    return campaign
