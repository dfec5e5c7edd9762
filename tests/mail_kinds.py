"""One message of every kind gll-mail sends, in every language, built as the engine builds them.

The deliverability tests (SpamAssassin, DKIM, headers) score and parse exactly these: a report
release, an announcement, an event and a corrigendum (the demo campaigns, the announcement and event
made from the report release with their own layouts), a test send and the registration confirmation.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gll_mail import links
from gll_mail.campaigns.message import MessageBuilder
from gll_mail.campaigns.proofs import build_proofs
from gll_mail.campaigns.records import sync_campaign
from gll_mail.campaigns.render import CampaignRenderer, Recipient
from gll_mail.campaigns.sources import load_source
from gll_mail.demo.data import seed_catalog
from gll_mail.languages import LANGUAGES
from gll_mail.members.registration import PENDING, confirmation_message
from gll_mail.models import Subscriber, SubscriberStatus
from gll_mail.smtp.dkim import signer_from_settings

REPO = Path(__file__).resolve().parent.parent
KINDS = ("report-release", "announcement", "event", "corrigendum", "test", "confirmation")
NAMES = {
    "en": "Amina Haddad",
    "fr": "Zoë Ångström",
    "es": "José Núñez",
    "ru": "Ирина Петрова",
    "zh": "王伟",
    "ar": "مريم الحسيني",
}
RELEASE = "2019-06-compassion-reports"
CORRIGENDUM = "2019-06-18-corrigendum"


def write_key(path: Path, kind: str = "rsa") -> Path:
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def campaigns_dir(tmp_path: Path) -> Path:
    """The demo campaigns, plus an announcement and an event made from the report release."""
    folder = tmp_path / "campaigns"
    shutil.copytree(REPO / "campaigns", folder)
    for kind in ("announcement", "event"):
        for path in sorted((REPO / "campaigns").glob(f"{RELEASE}*.md")):
            text = path.read_text(encoding="utf-8")
            text = re.sub(r"(?m)^slug: .*$", f"slug: 2019-06-{kind}", text)
            text = re.sub(r"(?m)^kind: .*$", f"kind: {kind}", text)
            (folder / path.name.replace(RELEASE, f"2019-06-{kind}")).write_text(text, encoding="utf-8")
    return folder


def signed_settings(settings, tmp_path: Path, *, ed25519_too: bool = False):
    """``settings`` with a DKIM key (d=who.int, the From domain) and the demo campaigns of every kind."""
    changes = {
        "dkim_key_file": str(write_key(tmp_path / "dkim-rsa.pem")),
        "dkim_selector": "gll2026",
        "dkim_domain": "who.int",
        "campaigns_dir": campaigns_dir(tmp_path),
    }
    if ed25519_too:
        changes.update(
            dkim_ed25519_key_file=str(write_key(tmp_path / "dkim-ed.pem", "ed25519")), dkim_ed25519_selector="gll2026e"
        )
    return settings.replace(**changes)


def _slug(kind: str) -> str:
    return {"report-release": RELEASE, "corrigendum": CORRIGENDUM, "test": RELEASE}.get(kind, f"2019-06-{kind}")


def build_all(settings, session) -> dict[tuple[str, str], tuple[str, bytes]]:
    """(kind, language) → (envelope sender, message bytes) for every kind × language."""
    seed_catalog(session, settings.resources_dir)
    signer = signer_from_settings(settings)
    out: dict[tuple[str, str], tuple[str, bytes]] = {}
    sources = {}
    for slug in (RELEASE, CORRIGENDUM, "2019-06-announcement", "2019-06-event"):
        source = load_source(settings.campaigns_dir / f"{slug}.md")
        sources[slug] = (source, sync_campaign(session, source))
    session.flush()
    for kind in KINDS:
        for n, language in enumerate(LANGUAGES):
            email = f"member.{language}@example.org"
            if kind == "test":
                [proof] = build_proofs(settings, session, sources[RELEASE][0], [email], language=language)
                out[kind, language] = (proof.sender, proof.data)
                continue
            if kind == "confirmation":
                member = Subscriber(
                    email=email,
                    name=NAMES[language],
                    language=language,
                    status=SubscriberStatus.PENDING,
                    attributes={PENDING: {"language": language}},
                )
                session.add(member)
                session.flush()
                url = links.confirm_url(settings, member.public_id, resource_slug="compassion-tools", nonce="n")
                built = confirmation_message(settings, member, url)
                out[kind, language] = (built.sender, built.data)
                continue
            source, campaign = sources[_slug(kind)]
            renderer = CampaignRenderer(settings, session, source, campaign)
            builder = MessageBuilder(
                settings, campaign_id=campaign.id, slug=source.slug, kind=source.kind, signer=signer
            )
            recipient = Recipient(f"PublicId{language}{n:04d}x", email, NAMES[language], language)
            rendered = renderer.render(recipient)
            built = builder.build(
                rendered,
                delivery_id=100 + n,
                name=recipient.name,
                email=email,
                unsubscribe_url=renderer.minter.url("unsubscribe", recipient.public_id),
            )
            out[kind, language] = (built.sender, built.data)
    return out
