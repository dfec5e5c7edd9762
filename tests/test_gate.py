"""Gated links: the decision table, every branch through the web, scanners, and every bad-token kind."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from sqlmodel import select
from web_support import BASE, add_member, csrf

from gll_mail import links
from gll_mail.events import is_scanner
from gll_mail.members.gate import Outcome, decide
from gll_mail.models import Event, EventType, PodMembership, Resource, Subscriber
from gll_mail.tokens import make_token

NONE = frozenset()


@pytest.mark.parametrize(
    "access,pod,registered,member_of,expected",
    [
        ("public", None, False, NONE, (Outcome.OPEN, None)),
        ("registered", None, False, NONE, (Outcome.REGISTER, None)),
        ("registered", None, True, NONE, (Outcome.OPEN, None)),
        ("pod:ipc", None, False, NONE, (Outcome.REGISTER, None)),
        ("pod:ipc", None, True, NONE, (Outcome.JOIN_POD, "ipc")),
        ("pod:ipc", None, True, frozenset({"ipc"}), (Outcome.OPEN, None)),
        (None, "wash", False, NONE, (Outcome.REGISTER, "wash")),
        (None, "wash", True, NONE, (Outcome.JOIN_POD, "wash")),
        (None, "wash", True, frozenset({"wash"}), (Outcome.POD_HOME, "wash")),
        ("public", "wash", True, NONE, (Outcome.JOIN_POD, "wash")),
        ("pod:ipc", "wash", True, frozenset({"wash"}), (Outcome.JOIN_POD, "ipc")),
        ("pod:ipc", "ipc", True, frozenset({"ipc"}), (Outcome.OPEN, "ipc")),
    ],
)
def test_decision_table(access, pod, registered, member_of, expected):
    decision = decide(access=access, pod_slug=pod, registered=registered, member_of=member_of)
    assert (decision.outcome, decision.pod_slug) == expected


def test_scanner_classification():
    assert is_scanner("HEAD", "Mozilla/5.0 (Windows NT 10.0) Chrome/120")
    assert is_scanner("GET", "Mozilla/5.0 (compatible; Proofpoint URL Defense)")
    assert is_scanner("GET", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0; Pro)")
    assert not is_scanner("GET", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36")


def clicks(session) -> list[Event]:
    session.expire_all()
    return list(session.exec(select(Event).where(Event.type == EventType.CLICK)))


def test_registered_member_gets_the_file_and_a_click_is_recorded(client, session, web_settings):
    member = add_member(session, "amina@example.org")
    response = client.get(links.gate_url(web_settings, member.public_id, "codevelopment-synthesis-report"))
    assert response.status_code == 200
    assert "co-development call synthesis report" in response.get_data(as_text=True)
    response.close()
    assert response.headers["Referrer-Policy"] == "no-referrer"
    [event] = clicks(session)
    assert event.subscriber_id == member.id and not event.is_bot and event.resource_id is not None


def test_url_resource_redirects_only_to_its_registered_url(client, session, web_settings):
    session.add(Resource(slug="who-site", title="WHO", url="https://www.who.int/quality", access="registered"))
    member = add_member(session, "amina@example.org")
    url = links.gate_url(web_settings, member.public_id, "who-site")
    response = client.get(url + "?next=https://evil.example/&url=https://evil.example/")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://www.who.int/quality"


def test_public_resource_opens_for_anyone_even_unregistered(client, session, web_settings):
    session.add(Resource(slug="open-report", title="Open", url="https://www.who.int/open", access="public"))
    stranger = add_member(session, "new@example.org", registered=False)
    response = client.get(links.gate_url(web_settings, stranger.public_id, "open-report"))
    assert response.status_code == 302 and response.headers["Location"] == "https://www.who.int/open"


def test_unregistered_subscriber_sees_a_prefilled_registration_form(client, session, web_settings):
    sub = add_member(session, "unreg@example.org", registered=False, name="Wei Zhang")
    response = client.get(links.gate_url(web_settings, sub.public_id, "codevelopment-synthesis-report"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "unreg@example.org" in html and 'name="email"' not in html  # shown, not editable
    assert 'value="Wei Zhang"' in html and 'for="country"' in html and 'name="consent"' in html
    session.expire_all()
    assert session.get(Subscriber, sub.id).registered_at is None


def test_pod_resource_asks_to_join_then_opens_after_the_post(client, session, web_settings):
    member = add_member(session, "amina@example.org")
    url = links.gate_url(web_settings, member.public_id, "compassion-scoping-report")
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Join the Compassion learning pod" in html
    assert session.exec(select(PodMembership)).first() is None  # GET changed nothing
    joined = client.post(url, data={"csrf_token": csrf(page), "action": "join"})
    assert joined.status_code == 303
    opened = client.get(joined.headers["Location"])
    assert opened.status_code == 200 and "Scoping report on compassion" in opened.get_data(as_text=True)
    opened.close()
    session.expire_all()
    assert session.exec(select(PodMembership).where(PodMembership.subscriber_id == member.id)).one()
    assert session.exec(select(Event).where(Event.type == EventType.POD_JOINED)).one().source == "web"


def test_join_without_csrf_token_is_refused(client, session, web_settings):
    member = add_member(session, "amina@example.org")
    url = links.join_pod_url(web_settings, member.public_id, "ipc")
    response = client.post(url, data={"action": "join"})
    assert response.status_code == 403 and "This form has expired" in response.get_data(as_text=True)
    assert session.exec(select(PodMembership)).first() is None


def test_pod_link_for_a_member_already_in_the_pod(client, session, web_settings):
    member = add_member(session, "amina@example.org", pods=["ipc"])
    response = client.get(links.join_pod_url(web_settings, member.public_id, "ipc"))
    assert response.status_code == 200 and "You are a member of the Infection Prevention" in response.get_data(True)


@pytest.mark.parametrize(
    "language,title",
    [("en", "learning pod is closed"), ("fr", "Le groupe d’apprentissage"), ("ar", "مجموعة التعلّم")],
)
def test_an_old_link_to_an_archived_pod_joins_nobody(client, session, web_settings, language, title):
    """An archived pod takes no new members: its old /p/ link, and a resource gated by it, open a page
    in the member's language saying so; a POST joins nothing; its members keep their pod page."""
    from gll_mail.catalog import archive_pod
    from gll_mail.members import membership

    member = add_member(session, "amina@example.org", language=language)
    kept = add_member(session, "wei@example.org", pods=["ipc"])
    url = links.join_pod_url(web_settings, member.public_id, "ipc")
    token = csrf(client.get(url))  # the join page, open in a tab before the pod was archived
    assert archive_pod(session, "ipc")
    session.commit()
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 410 and title in html and "Join" not in html and 'method="post"' not in html
    assert client.post(url, data={"csrf_token": token, "action": "join"}).status_code == 303
    assert client.get(links.join_pod_url(web_settings, kept.public_id, "ipc")).status_code == 200
    with pytest.raises(membership.PodArchived):
        membership.join(session, member, "ipc")
    session.expire_all()
    assert session.exec(select(PodMembership).where(PodMembership.subscriber_id == member.id)).first() is None


@pytest.mark.parametrize(
    "method,agent",
    [
        ("GET", "Mozilla/5.0 (compatible; Proofpoint URL Defense scanner)"),
        ("HEAD", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"),
    ],
)
def test_scanner_changes_nothing_and_is_recorded_as_bot(client, session, web_settings, method, agent):
    member = add_member(session, "amina@example.org")
    url = links.join_pod_url(web_settings, member.public_id, "ipc")
    response = client.open(url, method=method, headers={"User-Agent": agent})
    assert response.status_code == 200
    [event] = clicks(session)
    assert event.is_bot and event.data["method"] == method
    assert session.exec(select(PodMembership)).first() is None


def test_link_from_a_rendered_campaign_email_opens(client, session, web_settings):
    from conftest import REPO

    from gll_mail.campaigns.records import sync_campaign
    from gll_mail.campaigns.render import CampaignRenderer, Recipient
    from gll_mail.campaigns.sources import load_source

    source = load_source(REPO / "campaigns" / "2019-06-compassion-reports.md")
    campaign = sync_campaign(session, source)
    session.commit()
    member = add_member(session, "amina@example.org", pods=["compassion"])
    renderer = CampaignRenderer(web_settings, session, source, campaign)
    message = renderer.render(Recipient(member.public_id, member.email, member.name, "en"))
    import re

    gated = re.findall(re.escape(BASE) + r"/r/[^\s\"<>]+", message.text)
    assert gated
    response = client.get(gated[0])
    assert response.status_code == 200
    response.close()
    [event] = clicks(session)
    assert event.campaign_id == campaign.id

    [web_version] = re.findall(re.escape(BASE) + r"/a/[^\s\"<>]+", message.text)
    response = client.get(web_version)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Dear Amina Haddad," in html
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert gated[0].rsplit(".", 2)[0] in html  # the member's own signed links (signature time may differ)


def _expired(settings, purpose: str, subject: str, **extra) -> str:
    real = TimestampSigner.get_timestamp
    TimestampSigner.get_timestamp = lambda self: int(time.time()) - 2000 * 24 * 3600
    try:
        return make_token(settings, purpose, subject, **extra)
    finally:
        TimestampSigner.get_timestamp = real


@pytest.mark.parametrize("path", ["/r/", "/p/", "/m/", "/u/", "/confirm/"])
def test_bad_tokens_get_friendly_pages_with_the_right_status(client, session, web_settings, path):
    member = add_member(session, "amina@example.org")
    purpose = {"/r/": "gate", "/p/": "join-pod", "/m/": "manage", "/u/": "unsubscribe", "/confirm/": "confirm"}[path]
    extra = {"/r/": {"r": "codevelopment-synthesis-report"}, "/p/": {"p": "ipc"}}.get(path, {})
    good = make_token(web_settings, purpose, member.public_id, **extra)
    other = "manage" if purpose != "manage" else "gate"
    cases = {
        "tampered": (good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"), 400, "This link is damaged"),
        "garbage": ("not-a-token", 400, "This link is damaged"),
        "wrong-purpose": (make_token(web_settings, other, member.public_id, **extra), 400, "belongs to another page"),
        "expired": (_expired(web_settings, purpose, member.public_id, **extra), 410, "This link has expired"),
        "unknown-subscriber": (
            make_token(web_settings, purpose, "NoSuchPublicId0000000", **extra),
            404,
            "This link is not valid",
        ),
    }
    for name, (token, status, text) in cases.items():
        for method in ("GET", "POST"):
            response = client.open(BASE + path + token, method=method, data={"List-Unsubscribe": "One-Click"})
            html = response.get_data(as_text=True)
            assert response.status_code == status, (name, method)
            assert text in html, (name, method)
            assert "Traceback" not in html and "amina" not in html.lower()


def test_missing_resource_or_pod_is_404(client, session, web_settings):
    member = add_member(session, "amina@example.org")
    assert client.get(links.gate_url(web_settings, member.public_id, "no-such-resource")).status_code == 404
    assert client.get(links.join_pod_url(web_settings, member.public_id, "no-such-pod")).status_code == 404


def test_unknown_paths_and_methods_are_friendly(client):
    response = client.get(BASE + "/nothing-here")
    assert response.status_code == 404 and "This link is not valid" in response.get_data(as_text=True)
    response = client.put(BASE + "/register")
    assert response.status_code == 405 and "<h1>" in response.get_data(as_text=True)


def test_click_writer_batches_in_the_background_and_survives_a_bad_row(engine, session):
    from gll_mail.web.clicks import ClickWriter

    member = add_member(session, "amina@example.org")
    writer = ClickWriter(engine, interval=0.05)
    writer.add(type="click", subscriber_id=member.id, data={"n": 1})
    writer.add(type="click", subscriber_id=member.id, resource_id=999_999)  # no such resource: FK error
    writer.add(type="click", subscriber_id=member.id, data={"n": 3})
    deadline = time.monotonic() + 5
    while len(clicks(session)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.close()
    assert sorted(e.data.get("n") for e in clicks(session)) == [1, 3]


def test_scanner_on_an_open_resource_is_a_bot_click(client, session, web_settings):
    member = add_member(session, "amina@example.org")
    url = links.gate_url(web_settings, member.public_id, "codevelopment-synthesis-report")
    response = client.head(url, headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 200 and response.get_data() == b""
    response.close()
    response = client.get(url, headers={"User-Agent": "Mozilla/5.0 (compatible; Mimecast link checker)"})
    response.close()
    assert [e.is_bot for e in clicks(session)] == [True, True]
