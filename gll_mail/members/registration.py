"""Double opt-in registration: the form's answers wait until the confirm link is used.

1. ``start_registration()`` validates the answers, keeps them in the subscriber's
   ``attributes["pending_registration"]`` (creating a *pending* subscriber for a new address) and
   returns the confirm link, which carries where the person wanted to go (a resource or a pod).
2. The caller commits, then ``send_confirmation()`` mails the link (a transactional email).
3. ``confirm()``, on the POST from the confirm page, applies the answers, sets ``registered_at``,
   records consent (time, source and the IP address the form came from) and returns the target.

Nothing in the answers reaches the member's profile until the address owner confirms, and the
public form answers the same whether or not an address is known (no member enumeration).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, cast, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gll_mail import links
from gll_mail.addresses import InvalidAddress, clean_text, email_hash, normalize_email
from gll_mail.campaigns.message import BuiltMessage, MessageBuilder
from gll_mail.campaigns.records import linked_campaign
from gll_mail.campaigns.render import RenderedMessage
from gll_mail.catalog import list_topics
from gll_mail.db import write_lock
from gll_mail.events import record_event
from gll_mail.i18n import translator
from gll_mail.languages import LANGUAGES, UnknownLanguage, normalize_language
from gll_mail.models import (
    Event,
    EventType,
    Resource,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    utcnow,
)
from gll_mail.settings import Settings
from gll_mail.smtp.client import SmtpConfig, send_raw
from gll_mail.smtp.dkim import signer_from_settings
from gll_mail.suppressions import unsuppress
from gll_mail.tokens import DAY, MAX_AGE, TokenData

LIMITS = {"name": 200, "country": 100, "organization": 200, "role": 200}
PENDING = "pending_registration"
NO_MAIL_REASONS = ("hard-bounce", "complaint")  # never send even a confirmation to these
# Confirmation emails to one address, whoever asks and from however many IPs: the per-IP rate limit
# alone would let a botnet fill somebody's inbox through the public form.
CONFIRM_RESEND_WAIT = timedelta(minutes=2)
CONFIRM_MAX_PER_DAY = 5
CONFIRM_LINK_DAYS = MAX_AGE["confirm"] // DAY  # how long the confirm link works, as the member is told


@dataclass
class RegistrationForm:
    email: str = ""
    name: str = ""
    country: str = ""
    organization: str = ""
    role: str = ""
    language: str = "en"
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # field → error code (the form's template words it)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_form(
    data: Mapping[str, str], *, fixed_email: str | None = None, default_language: str = "en"
) -> RegistrationForm:
    """Validate the posted answers. ``fixed_email`` (from a gated link's token) overrides the field."""
    form = RegistrationForm()
    raw_email = fixed_email if fixed_email is not None else (data.get("email") or "")
    form.email = raw_email.strip()[:320]
    if fixed_email is None:
        try:
            form.email = normalize_email(raw_email[:320])
        except InvalidAddress:
            form.errors["email"] = "error_email"
    for name, limit in LIMITS.items():
        value = clean_text(data.get(name))
        if len(value) > limit:
            form.errors[name] = "error_too_long"
        setattr(form, name, value[:limit])
    if not form.name:
        form.errors["name"] = "error_name"
    try:
        form.language = normalize_language(data.get("language") or default_language)
    except UnknownLanguage:
        form.language = default_language if default_language in LANGUAGES else "en"
    form.consent = (data.get("consent") or "") in ("yes", "on", "1", "true")
    if not form.consent:
        form.errors["consent"] = "error_consent"
    return form


@dataclass(frozen=True)
class Started:
    subscriber: Subscriber | None  # None: nothing is sent (address bounced or complained before)
    confirm_url: str | None


def start_registration(
    session: Session,
    settings: Settings,
    form: RegistrationForm,
    *,
    ip: str | None,
    subscriber: Subscriber | None = None,
    resource_slug: str | None = None,
    pod_slug: str | None = None,
    campaign_id: int | None = None,
) -> Started:
    """Keep the answers as pending and mint the confirm link (the caller commits, then sends)."""
    if not form.ok:
        raise ValueError("start_registration needs a valid form")
    # the member's row is locked until the caller commits (FOR UPDATE on PostgreSQL, the write lock
    # on SQLite): two requests at once cannot both find the throttle open and both send an email
    write_lock(session)
    found = (
        select(Subscriber).where(Subscriber.id == subscriber.id)
        if subscriber is not None
        else select(Subscriber).where(Subscriber.email == form.email)
    )
    subscriber = session.exec(found.with_for_update().execution_options(populate_existing=True)).first()
    blocked = session.exec(
        select(Suppression.reason).where(
            Suppression.email_hash == email_hash(subscriber.email if subscriber else form.email)
        )
    ).first()
    if blocked in NO_MAIL_REASONS:
        return Started(None, None)
    if subscriber is None:
        subscriber = Subscriber(email=form.email, status=SubscriberStatus.PENDING, language=form.language)
        session.add(subscriber)
        try:
            session.flush()
        except IntegrityError:  # a simultaneous request for the same new address made the row first
            session.rollback()
            return start_registration(
                session, settings, form, ip=ip, resource_slug=resource_slug, pod_slug=pod_slug, campaign_id=campaign_id
            )
    attributes = dict(subscriber.attributes or {})
    now = utcnow()
    sent = [at for at in _times((attributes.get(PENDING) or {}).get("sent")) if at > now - timedelta(days=1)]
    throttled = bool(sent) and (now - sent[-1] < CONFIRM_RESEND_WAIT or len(sent) >= CONFIRM_MAX_PER_DAY)
    if throttled:
        # no new email, and the answers the last email's link confirms stay as they were: anyone
        # can post this form for any address, and must not slip their answers under its owner's click
        return Started(None, None)
    sent.append(now)
    nonce = secrets.token_urlsafe(9)  # this request's: its link confirms these answers and no others
    attributes[PENDING] = {
        "name": form.name,
        "country": form.country,
        "organization": form.organization,
        "role": form.role,
        "language": form.language,
        "ip": (ip or "")[:64],
        "at": now.isoformat(),
        "sent": [at.isoformat() for at in sent],
        "nonce": nonce,
    }
    subscriber.attributes = attributes
    subscriber.updated_at = now
    session.add(subscriber)
    session.flush()
    url = links.confirm_url(
        settings,
        subscriber.public_id,
        resource_slug=resource_slug,
        pod_slug=pod_slug,
        campaign_id=campaign_id,
        nonce=nonce,
    )
    return Started(subscriber, url)


def confirmation_message(settings: Settings, subscriber: Subscriber, url: str) -> BuiltMessage:
    """The confirmation email, built like a campaign message (DKIM, VERP envelope sender naming the
    member, exact headers, Content-Language) but as transactional mail: no List-* headers."""
    pending = (subscriber.attributes or {}).get(PENDING, {})
    language = pending.get("language") or subscriber.language
    t = translator(language)
    # never the name just typed into the form: anyone can type anything for any address, and this
    # email goes out from the WHO's address; the name on record (imported or confirmed) is fine
    # Translators: in "Dear %(name)s," of the confirmation email when we have no name on record.
    name = subscriber.name or t.gettext("Colleague")
    paragraphs = [
        # Translators: the greeting of the confirmation email; %(name)s is the member's name.
        t.gettext("Dear %(name)s,", name=name),
        t.gettext(
            "Please confirm your registration with the WHO Global Learning Laboratory for Quality Universal "
            "Health Coverage by opening this link:"
        ),
        url,
        # Translators: the end of the confirmation email; %(num)d is how many days the link works.
        t.ngettext(
            "The link works for %(num)d day. If you did not ask to register, ignore this email: nothing will happen.",
            "The link works for %(num)d days. If you did not ask to register, ignore this email: nothing will happen.",
            CONFIRM_LINK_DAYS,
        ),
    ]
    site = t.gettext("WHO Global Learning Laboratory for Quality Universal Health Coverage")
    text = "\n\n".join(paragraphs) + "\n\n-- \n" + site + "\n"
    # Translators: the subject of the confirmation email.
    subject = t.gettext("Confirm your registration with the WHO Global Learning Laboratory")
    builder = MessageBuilder(
        settings,
        campaign_id=0,
        slug="confirm",
        kind="transactional",
        transactional=True,
        signer=signer_from_settings(settings),
    )
    return builder.build_transactional(
        RenderedMessage(t.language, subject, "", text, ""),
        subscriber_id=subscriber.id,
        name=subscriber.name or "",
        email=subscriber.email,
    )


def send_confirmation(settings: Settings, subscriber: Subscriber, url: str) -> None:
    """Mail the confirm link now (raises the SMTP client's error when the server refuses)."""
    built = confirmation_message(settings, subscriber, url)
    send_raw(SmtpConfig.from_url(settings.smtp_url), built.sender, built.recipient, built.data)


class ConfirmError(LookupError):
    """The confirm link's subscriber is gone, or there is nothing waiting to be confirmed."""


@dataclass(frozen=True)
class Confirmed:
    subscriber: Subscriber
    resource_slug: str | None
    pod_slug: str | None
    newly: bool  # False when the link had been used before (confirming is idempotent)
    campaign_id: int | None = None  # the campaign whose gated link led here


def confirm(session: Session, data: TokenData, *, ip: str | None, source: str = "web") -> Confirmed:
    """Apply the pending answers: the member is registered from now on."""
    subscriber = session.exec(select(Subscriber).where(Subscriber.public_id == data.subject)).first()
    if subscriber is None:
        raise ConfirmError("no such subscriber")
    resource_slug = data.extra.get("r") if isinstance(data.extra.get("r"), str) else None
    pod_slug = data.extra.get("p") if isinstance(data.extra.get("p"), str) else None
    campaign_id = linked_campaign(session.connection(), data.extra.get("c"))
    attributes = dict(subscriber.attributes or {})
    pending = attributes.pop(PENDING, None)
    if pending is not None and pending.get("nonce") != data.extra.get("n"):
        # a link of an earlier request: it confirms nothing newer (answers someone else may have
        # posted for this address since), and an already confirmed member just goes on
        pending = None
    if pending is None:
        if subscriber.is_registered:
            return Confirmed(subscriber, resource_slug, pod_slug, False, campaign_id)
        raise ConfirmError("nothing to confirm")
    now = utcnow()
    was_new = subscriber.status == SubscriberStatus.PENDING and subscriber.registered_at is None
    # cleaned again: answers kept before the rule existed may hold a NUL, which PostgreSQL refuses
    for name in ("name", "country", "organization", "role"):
        setattr(subscriber, name, clean_text(pending.get(name))[: LIMITS[name]] or getattr(subscriber, name))
    subscriber.language = pending.get("language") or subscriber.language
    subscriber.registered_at = subscriber.registered_at or now
    subscriber.consent_source = "web-register"
    subscriber.consent_at = now
    subscriber.consent_ip = pending.get("ip") or (ip or "")[:64] or None
    if subscriber.status != SubscriberStatus.ACTIVE:
        # A confirmed double opt-in is fresh consent: it lifts an earlier unsubscribe or deletion.
        unsuppress(session, subscriber.email)
        subscriber.status = SubscriberStatus.ACTIVE
    subscriber.attributes = attributes
    subscriber.updated_at = now
    session.add(subscriber)
    if was_new:
        record_event(session, EventType.SUBSCRIBED, subscriber=subscriber, source=source)
        have = set(session.exec(select(Subscription.topic_id).where(Subscription.subscriber_id == subscriber.id)))
        for topic in list_topics(session):
            if topic.id not in have:
                session.add(Subscription(subscriber_id=subscriber.id, topic_id=topic.id))
                record_event(session, EventType.TOPIC_ADDED, subscriber=subscriber, source=source, topic=topic.slug)
    record_event(
        session,
        EventType.CONFIRMED,
        subscriber=subscriber,
        source=source,
        campaign_id=campaign_id,
        resource_id=_resource_id(session, resource_slug),  # the library counts registrations per resource
        form_ip=pending.get("ip"),
        confirm_ip=(ip or "")[:64] or None,
        requested_at=pending.get("at"),
    )
    session.flush()
    return Confirmed(subscriber, resource_slug, pod_slug, True, campaign_id)


def _resource_id(session: Session, slug: str | None) -> int | None:
    return session.exec(select(Resource.id).where(Resource.slug == slug)).first() if slug else None


@dataclass(frozen=True)
class PurgeResult:
    deleted: int  # addresses that asked to register, never confirmed, and are erased
    cleared: int  # members whose unconfirmed profile changes were dropped


def purge_unconfirmed(session: Session, *, older_than: timedelta, dry_run: bool = False) -> PurgeResult:
    """Forget registrations nobody confirmed within ``older_than`` (data minimization).

    A *pending* subscriber (an address typed into the register page, never confirmed) is deleted
    with its subscriptions; its events stay, anonymized, for the figures. A member who asked for
    changes and never confirmed keeps their profile; only the unconfirmed answers are dropped. No
    suppression is left behind: the person never asked not to be mailed, and was never mailed.
    """
    cutoff = utcnow() - older_than
    stale = list(
        session.exec(
            select(Subscriber).where(
                Subscriber.status == SubscriberStatus.PENDING,
                Subscriber.registered_at.is_(None),
                Subscriber.updated_at < cutoff,
            )
        )
    )
    asked = session.exec(
        select(Subscriber).where(
            Subscriber.status != SubscriberStatus.PENDING, cast(Subscriber.attributes, String).like(f'%"{PENDING}"%')
        )
    )
    unconfirmed = [s for s in asked if _pending_since(s) is not None and _pending_since(s) < cutoff]
    if dry_run:
        return PurgeResult(len(stale), len(unconfirmed))
    for subscriber in stale:
        session.execute(update(Event).where(Event.subscriber_id == subscriber.id).values(subscriber_id=None, data={}))
        session.delete(subscriber)
    for subscriber in unconfirmed:
        attributes = dict(subscriber.attributes)
        attributes.pop(PENDING, None)
        subscriber.attributes = attributes
        session.add(subscriber)
    session.flush()
    if stale or unconfirmed:
        record_event(
            session,
            EventType.DELETED,
            source="purge-unconfirmed",
            deleted=len(stale),
            cleared=len(unconfirmed),
            older_than_days=older_than.days,
        )
    return PurgeResult(len(stale), len(unconfirmed))


def _times(values) -> list[datetime]:
    """ISO timestamps as aware datetimes, oldest first; anything unreadable is dropped."""
    found = []
    for raw in values if isinstance(values, list) else []:
        try:
            at = datetime.fromisoformat(raw)
        except (TypeError, ValueError):
            continue
        found.append(at if at.tzinfo is not None else at.replace(tzinfo=UTC))
    return sorted(found)


def _pending_since(subscriber: Subscriber) -> datetime | None:
    raw = ((subscriber.attributes or {}).get(PENDING) or {}).get("at")
    try:
        at = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
