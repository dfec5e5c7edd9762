"""The GLL's own catalog (pods, topics, resources) and generated demo members, for `gll-mail demo`.

Seeding is idempotent: running it twice adds nothing the second time.
"""

from __future__ import annotations

import random
from pathlib import Path

from sqlmodel import Session, select

from gll_mail.models import (
    Pod,
    PodMembership,
    Resource,
    Subscriber,
    Subscription,
    Topic,
    utcnow,
)

DEMO_DOMAIN = "members.gll-demo.org"

PODS = [
    ("compassion", "Compassion", "The heart of quality health services: compassion in care."),
    ("nqps", "National Quality Policy and Strategy", "Driving quality across all levels of the health system."),
    ("ipc", "Infection Prevention and Control", "IPC as a foundation of quality care."),
    ("wash", "Water, Sanitation and Hygiene", "WASH in health care facilities."),
    ("mch", "Maternal and child health", "Quality of care for mothers, newborns and children."),
]

TOPICS = [
    ("announcements", "GLL announcements", "Report releases, calls and news from the GLL."),
    ("webinars", "Webinars and events", "Invitations to GLL webinars and learning events."),
]

RESOURCES = [
    # slug, title, access, file name (served from the resources folder)
    (
        "codevelopment-synthesis-report",
        "GLL co-development call synthesis report",
        "registered",
        "gll-codevelopment-synthesis-report.html",
    ),
    (
        "compassion-scoping-report",
        "Scoping report on compassion and quality of care",
        "pod:compassion",
        "compassion-scoping-report.html",
    ),
    ("compassion-tools", "Compassion: tools and resources", "pod:compassion", "compassion-tools-and-resources.html"),
]

_FIRST = [
    "Amina",
    "Wei",
    "Olga",
    "Carlos",
    "Fatima",
    "Jean",
    "Priya",
    "Kwame",
    "Maria",
    "Ahmed",
    "Li",
    "Sofia",
    "Ivan",
    "Nadia",
    "Pierre",
    "Lucia",
    "Omar",
    "Mei",
    "Dmitri",
    "Ana",
]
_LAST = [
    "Haddad",
    "Zhang",
    "Petrova",
    "García",
    "Mensah",
    "Dubois",
    "Sharma",
    "Okafor",
    "Silva",
    "Rahman",
    "Chen",
    "Rossi",
    "Ivanov",
    "Benali",
    "Martin",
    "López",
    "Nasser",
    "Wang",
    "Kuznetsov",
    "Costa",
]
_COUNTRIES = [
    "Ghana",
    "India",
    "Mexico",
    "France",
    "Egypt",
    "China",
    "Russian Federation",
    "Brazil",
    "Kenya",
    "Jordan",
    "Peru",
    "Viet Nam",
    "Morocco",
    "Ethiopia",
    "Philippines",
]
_ROLES = [
    "Front-line health care provider",
    "Administrator",
    "Policy-maker",
    "Advocate",
    "Civil society",
    "Academic",
    "Patient representative",
    "Community representative",
]
_LANGS = ["en"] * 8 + ["fr"] * 4 + ["es"] * 3 + ["ar"] * 2 + ["ru"] * 2 + ["zh"] * 2


def seed_catalog(session: Session, resources_dir: Path) -> None:
    """Create the GLL's pods, topics and gated resources (and the resource files) when missing."""
    for model, rows in ((Pod, PODS), (Topic, TOPICS)):
        have = set(session.exec(select(model.slug)))
        for slug, name, description in rows:
            if slug not in have:
                session.add(model(slug=slug, name=name, description=description))
    have = set(session.exec(select(Resource.slug)))
    resources_dir.mkdir(parents=True, exist_ok=True)
    for slug, title, access, filename in RESOURCES:
        path = resources_dir / filename
        if not path.exists():
            path.write_text(
                f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{title}</title>"
                f"<h1>{title}</h1><p>WHO Global Learning Laboratory for Quality UHC.</p></html>\n",
                encoding="utf-8",
            )
        if slug not in have:
            session.add(Resource(slug=slug, title=title, access=access, file_path=filename))
    session.flush()


def seed_members(session: Session, count: int = 300, *, seed: int = 2019) -> int:
    """Add ``count`` generated members (deterministic) on the demo domain; returns how many were new."""
    rng = random.Random(seed)
    pods = {p.slug: p.id for p in session.exec(select(Pod))}
    topics = {t.slug: t.id for t in session.exec(select(Topic))}
    existing = set(session.exec(select(Subscriber.email).where(Subscriber.email.like(f"%@{DEMO_DOMAIN}"))))
    now = utcnow()
    added = 0
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"member{i:04d}@{DEMO_DOMAIN}"
        registered = rng.random() < 0.7
        member_pods = [slug for slug in pods if registered and rng.random() < 0.3]
        language = rng.choice(_LANGS)
        if email in existing:
            continue
        subscriber = Subscriber(
            email=email,
            name=f"{first} {last}" if rng.random() < 0.9 else "",
            language=language,
            country=rng.choice(_COUNTRIES),
            organization=f"{rng.choice(_LAST)} District Hospital",
            role=rng.choice(_ROLES),
            registered_at=now if registered else None,
            consent_source="demo",
            consent_at=now,
        )
        session.add(subscriber)
        session.flush()
        session.add(Subscription(subscriber_id=subscriber.id, topic_id=topics["announcements"]))
        if rng.random() < 0.5:
            session.add(Subscription(subscriber_id=subscriber.id, topic_id=topics["webinars"]))
        for slug in member_pods:
            session.add(PodMembership(subscriber_id=subscriber.id, pod_id=pods[slug]))
        added += 1
    session.flush()
    return added
