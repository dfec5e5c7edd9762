"""Test sends ("proofs"): the message a recipient will get, to the team's own addresses.

A proof is built by the campaign's own :class:`~gll_mail.campaigns.message.MessageBuilder` (every bulk-sender
header, the DKIM signature when it is configured, the VERP envelope sender), so what the team
checks in their inbox — the rendering, the one-click unsubscribe their mail program offers, the
DKIM result in "show original" — is what members will see. Only the subject says ``[Test]`` (in
the message's language), the Message-ID is new each time, so mail programs never fold two
proofs into one, and the envelope sender and Feedback-ID mark the message as a test: a bounce or
a complaint about a proof never counts against a member or the campaign.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from sqlmodel import Session

from gll_mail.addresses import normalize_email
from gll_mail.campaigns.message import MessageBuilder
from gll_mail.campaigns.records import get_campaign
from gll_mail.campaigns.render import CampaignRenderer, Recipient, recipient_for
from gll_mail.campaigns.sources import CampaignSource
from gll_mail.i18n import translator
from gll_mail.settings import Settings
from gll_mail.smtp.client import SmtpConfig, send_raw
from gll_mail.smtp.dkim import signer_from_settings
from gll_mail.subscribers import find_by_email


@dataclass(frozen=True)
class Proof:
    to: str
    sender: str  # the VERP envelope sender, as for a campaign message
    subject: str
    data: bytes


def build_proofs(
    settings: Settings, session: Session, source: CampaignSource, addresses: list[str], *, language: str | None = None
) -> list[Proof]:
    """One proof per address: a subscriber's gets their own language, name and links; another
    address gets ``language`` (default English) and no name."""
    campaign = get_campaign(session, source.slug)
    campaign_id = campaign.id if campaign is not None else 0
    renderer = CampaignRenderer(settings, session, source, campaign)
    builder = MessageBuilder(
        settings,
        campaign_id=campaign_id,
        slug=source.slug,
        kind=source.kind,
        from_address=source.from_address or "",
        signer=signer_from_settings(settings),
        test=True,
    )
    proofs = []
    for address in addresses:
        email = normalize_email(address)
        subscriber = find_by_email(session, email)
        if subscriber is not None:
            recipient = recipient_for(session, subscriber)
        else:
            recipient = Recipient(f"test-{secrets.token_urlsafe(9)}", email, "", language or "en", ())
        rendered = renderer.render(recipient, language=language)
        # Translators: the subject of a test send; %(subject)s is the campaign's subject.
        marked = translator(rendered.language).gettext("[Test] %(subject)s", subject=rendered.subject)
        rendered = replace(rendered, subject=marked)
        built = builder.build(
            rendered,
            delivery_id=0,
            name=recipient.name,
            email=email,
            unsubscribe_url=renderer.minter.url("unsubscribe", recipient.public_id, rendered.language),
            mid=f"<test.{secrets.token_hex(8)}.{campaign_id}@{builder.domain}>",
        )
        proofs.append(Proof(email, built.sender, rendered.subject, built.data))
    return proofs


def send_proof(settings: Settings, proof: Proof) -> None:
    """Hand one proof to the SMTP server (raises the SMTP client's error when it refuses)."""
    send_raw(SmtpConfig.from_url(settings.smtp_url), proof.sender, proof.to, proof.data)
