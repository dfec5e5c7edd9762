"""Helpers for the member web tests: an app on this test's database and SMTP server, members, forms."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest

from gll_mail.demo_data import seed_catalog
from gll_mail.gate import clear_caches
from gll_mail.models import PodMembership, Subscriber, SubscriberStatus, utcnow
from gll_mail.web import create_app

BASE = "https://gll.example.org"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web_settings(settings, smtp_server):
    return settings.replace(smtp_url=smtp_server.url)


@pytest.fixture
def app(web_settings, engine, session):
    seed_catalog(session, web_settings.resources_dir)
    session.commit()
    clear_caches()
    return create_app(web_settings, engine)


@pytest.fixture
def client(app):
    return app.test_client()


def add_member(session, email: str, *, registered: bool = True, language: str = "en", pods=(),
               status: str = SubscriberStatus.ACTIVE, name: str = "Amina Haddad") -> Subscriber:
    from gll_mail.models import Pod
    from sqlmodel import select

    sub = Subscriber(email=email, name=name, language=language, status=status,
                     registered_at=utcnow() if registered else None)
    session.add(sub)
    session.flush()
    for slug in pods:
        pod = session.exec(select(Pod).where(Pod.slug == slug)).one()
        session.add(PodMembership(subscriber_id=sub.id, pod_id=pod.id))
    session.commit()
    return sub


def csrf(response) -> str:
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, "page has no CSRF token"
    return match.group(1)


def url_in_text(raw: bytes, prefix: str) -> str:
    """The first URL starting with ``prefix`` in a message's plain-text part."""
    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_body(("plain",)).get_content()
    match = re.search(re.escape(prefix) + r"[^\s<>\"]+", body)
    assert match, f"no {prefix} link in:\n{body}"
    return match.group(0)
