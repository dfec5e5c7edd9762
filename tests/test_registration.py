"""Double opt-in registration through gated links and the public form, against a real SMTP server."""

from __future__ import annotations

import pytest
from sqlmodel import select
from web_support import BASE, add_member, csrf, url_in_text

from gll_mail import links
from gll_mail.languages import language_tag
from gll_mail.models import (
    Event,
    EventType,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
)
from gll_mail.suppressions import suppress
from gll_mail.web import create_app
from gll_mail.web.context import context_of

ANSWERS = {
    "name": "Wei Zhang",
    "country": "China",
    "organization": "Peking Union Hospital",
    "role": "Nurse",
    "language": "en",
    "consent": "yes",
}


def fresh(session, model, row_id):
    session.expire_all()
    return session.get(model, row_id)


def test_gated_link_registration_confirms_and_continues_to_the_resource(client, session, web_settings, smtp_server):
    sub = add_member(session, "wei@example.org", registered=False, name="")
    url = links.gate_url(web_settings, sub.public_id, "codevelopment-synthesis-report")
    form = client.get(url)
    sent = client.post(
        url, data={**ANSWERS, "language": "fr", "email": "attacker@evil.example", "csrf_token": csrf(form)}
    )
    assert sent.status_code == 200 and "Consultez votre messagerie" in sent.get_data(as_text=True)
    [mail] = smtp_server.received
    assert mail.rcpt_tos == ("wei@example.org",)  # the token's address, never the posted one
    assert "Confirmez votre inscription" in mail.message["Subject"]
    confirm = url_in_text(mail.data, BASE + "/confirm/")
    assert fresh(session, Subscriber, sub.id).registered_at is None  # nothing applied before confirming

    page = client.get(confirm)
    assert page.status_code == 200 and "Confirmer mon inscription" in page.get_data(as_text=True)
    assert fresh(session, Subscriber, sub.id).registered_at is None  # GET changes nothing

    done = client.post(confirm, data={"csrf_token": csrf(page)})
    assert done.status_code == 303 and done.headers["Location"].startswith("/r/")
    opened = client.get(done.headers["Location"])
    assert opened.status_code == 200 and "co-development call synthesis report" in opened.get_data(as_text=True)
    opened.close()
    member = fresh(session, Subscriber, sub.id)
    assert member.registered_at is not None and member.consent_source == "web-register"
    assert member.consent_ip == "127.0.0.1" and member.consent_at is not None
    assert (member.name, member.country, member.organization, member.role, member.language) == (
        "Wei Zhang",
        "China",
        "Peking Union Hospital",
        "Nurse",
        "fr",
    )
    assert "pending_registration" not in member.attributes
    confirmed = session.exec(select(Event).where(Event.type == EventType.CONFIRMED)).one()
    assert confirmed.source == "web" and confirmed.data["form_ip"] == "127.0.0.1"

    again = client.post(confirm, data={"csrf_token": csrf(page)})  # idempotent
    assert again.status_code == 303
    assert len(session.exec(select(Event).where(Event.type == EventType.CONFIRMED)).all()) == 1


def test_invalid_answers_show_errors_and_send_nothing(client, session, web_settings, smtp_server):
    sub = add_member(session, "wei@example.org", registered=False)
    url = links.gate_url(web_settings, sub.public_id, "codevelopment-synthesis-report")
    form = client.get(url)
    response = client.post(url, data={"name": "", "country": "x" * 500, "csrf_token": csrf(form)})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter your name." in html and "Tick this box to register." in html and "too long" in html
    assert 'aria-invalid="true"' in html and 'role="alert"' in html
    assert smtp_server.received == []


def test_public_register_same_answer_for_known_and_unknown_addresses(client, session, smtp_server):
    add_member(session, "known@example.org", registered=True)
    bodies = []
    for email in ("known@example.org", "unknown@example.org"):
        form = client.get(BASE + "/register")
        response = client.post(BASE + "/register", data={**ANSWERS, "email": email, "csrf_token": csrf(form)})
        assert response.status_code == 200
        bodies.append(response.get_data(as_text=True))
    assert bodies[0] == bodies[1]
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == ["known@example.org", "unknown@example.org"]
    # what was typed into the form is not echoed in an email sent from the WHO's address to anyone
    assert not any(ANSWERS["name"].encode() in m.data for m in smtp_server.received)
    pending = session.exec(select(Subscriber).where(Subscriber.email == "unknown@example.org")).one()
    assert pending.status == SubscriberStatus.PENDING and pending.registered_at is None


def test_public_registration_confirmed_subscribes_to_topics(client, session, smtp_server):
    form = client.get(BASE + "/register")
    client.post(BASE + "/register", data={**ANSWERS, "email": " New.Person@Example.ORG ", "csrf_token": csrf(form)})
    [mail] = smtp_server.received
    confirm = url_in_text(mail.data, BASE + "/confirm/")
    page = client.get(confirm)
    done = client.post(confirm, data={"csrf_token": csrf(page)})
    assert done.status_code == 200 and "Welcome to the Global Learning Laboratory" in done.get_data(as_text=True)
    member = session.exec(select(Subscriber).where(Subscriber.email == "new.person@example.org")).one()
    assert member.status == SubscriberStatus.ACTIVE and member.is_registered
    assert len(session.exec(select(Subscription).where(Subscription.subscriber_id == member.id)).all()) == 2


def test_bounced_or_complained_addresses_get_no_mail_but_the_same_page(client, session, smtp_server):
    suppress(session, "bounced@example.org", reason="hard-bounce", source="test")
    session.commit()
    form = client.get(BASE + "/register")
    response = client.post(
        BASE + "/register", data={**ANSWERS, "email": "bounced@example.org", "csrf_token": csrf(form)}
    )
    assert response.status_code == 200 and "Check your email" in response.get_data(as_text=True)
    assert smtp_server.received == []


def test_an_address_that_gets_no_email_answers_no_sooner_than_one_that_does(client, session, smtp_server):
    """Timing tells no more than the page: a bounced address, or one whose email was just sent,
    answers after a time drawn from the real sends of this process."""
    import time

    suppress(session, "bounced@example.org", reason="hard-bounce", source="test")
    session.commit()
    times = context_of(client.application).send_times

    def post(email: str) -> float:
        form = client.get(BASE + "/register")
        began = time.monotonic()
        response = client.post(BASE + "/register", data={**ANSWERS, "email": email, "csrf_token": csrf(form)})
        assert response.status_code == 200 and "Check your email" in response.get_data(as_text=True)
        return time.monotonic() - began

    post("new@example.org")
    assert len(smtp_server.received) == 1 and len(times._recent) == 1 and times._recent[0] > 0
    for _ in range(32):  # as if this process's SMTP relay took 0.4 s a message
        times.record(0.4)
    assert post("bounced@example.org") >= 0.4
    assert post("new@example.org") >= 0.4  # throttled: its email went out a moment ago
    assert len(smtp_server.received) == 1


def test_confirmed_re_registration_lifts_an_unsubscribe(client, session, smtp_server):
    sub = add_member(session, "back@example.org", status=SubscriberStatus.UNSUBSCRIBED)
    suppress(session, sub.email, reason="unsubscribe", source="test")
    session.commit()
    form = client.get(BASE + "/register")
    client.post(BASE + "/register", data={**ANSWERS, "email": "back@example.org", "csrf_token": csrf(form)})
    confirm = url_in_text(smtp_server.received[0].data, BASE + "/confirm/")
    page = client.get(confirm)
    client.post(confirm, data={"csrf_token": csrf(page)})
    assert fresh(session, Subscriber, sub.id).status == SubscriberStatus.ACTIVE
    assert session.exec(select(Suppression)).first() is None


def test_pod_link_registration_continues_to_the_join_page(client, session, web_settings, smtp_server):
    sub = add_member(session, "pod@example.org", registered=False)
    url = links.join_pod_url(web_settings, sub.public_id, "wash")
    form = client.get(url)
    assert "The <bdi>Water, Sanitation and Hygiene</bdi> learning pod is for registered members" in form.get_data(True)
    client.post(url, data={**ANSWERS, "csrf_token": csrf(form)})
    confirm = url_in_text(smtp_server.received[0].data, BASE + "/confirm/")
    page = client.get(confirm)
    done = client.post(confirm, data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "Join the Water, Sanitation and Hygiene learning pod" in done.get_data(as_text=True)


def test_registration_is_rate_limited_across_web_processes(web_settings, engine, session):
    limited = web_settings.replace(register_rate_limit=2, smtp_url="smtp://127.0.0.1:9")
    client = create_app(limited, engine).test_client()
    form = client.get(BASE + "/register")
    statuses = [client.post(BASE + "/register", data={"csrf_token": csrf(form)}).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    other = create_app(limited, engine).test_client()  # another gunicorn worker shares the count
    assert other.post(BASE + "/register", data={"csrf_token": csrf(other.get(BASE + "/register"))}).status_code == 429


def test_smtp_failure_is_a_friendly_503(web_settings, engine, session):
    app = create_app(web_settings.replace(smtp_url="smtp://127.0.0.1:9?timeout=2"), engine)
    client = app.test_client()
    form = client.get(BASE + "/register")
    response = client.post(BASE + "/register", data={**ANSWERS, "email": "x@example.org", "csrf_token": csrf(form)})
    assert response.status_code == 503 and "We could not send the email" in response.get_data(as_text=True)


@pytest.mark.parametrize("language", ["ar", "zh", "ru", "es"])
def test_register_page_speaks_the_browser_language(client, language):
    response = client.get(BASE + "/register", headers={"Accept-Language": f"{language},en;q=0.5"})
    html = response.get_data(as_text=True)
    assert f'<html lang="{language_tag(language)}"' in html and ('dir="rtl"' in html) == (language == "ar")
    assert response.headers["Content-Language"] == language_tag(language)


@pytest.mark.parametrize("header", ["zh-CN,zh;q=0.9,en;q=0.5", "zh-Hans", "zh-TW,en;q=0.1"])
def test_chinese_is_served_and_marked_as_simplified(client, header):
    response = client.get(BASE + "/register", headers={"Accept-Language": header})
    html = response.get_data(as_text=True)
    assert '<html lang="zh-Hans" dir="ltr">' in html and response.headers["Content-Language"] == "zh-Hans"
    assert "注册全球学习实验室" in html
    assert '<a href="?lang=zh" lang="zh-Hans" hreflang="zh-Hans" aria-current="true">中文</a>' in html


def test_a_chosen_language_beats_the_browser_language(client):
    response = client.get(BASE + "/register?lang=zh-Hans", headers={"Accept-Language": "fr"})
    assert response.headers["Content-Language"] == "zh-Hans"
    response = client.get(BASE + "/register?lang=ru", headers={"Accept-Language": "zh-CN"})
    assert response.headers["Content-Language"] == "ru"


def test_unconfirmed_registrations_are_forgotten_after_the_grace_period(client, session, smtp_server, runner):
    from datetime import timedelta

    from sqlalchemy import update

    from gll_mail.cli import main
    from gll_mail.members.registration import PENDING, purge_unconfirmed
    from gll_mail.models import utcnow

    add_member(session, "known@example.org", registered=True, name="Known Member")
    for email in ("known@example.org", "stranger@example.org", "recent@example.org"):
        form = client.get(BASE + "/register")
        client.post(BASE + "/register", data={**ANSWERS, "email": email, "csrf_token": csrf(form)})
    long_ago = utcnow() - timedelta(days=40)
    session.expire_all()
    stranger = session.exec(select(Subscriber).where(Subscriber.email == "stranger@example.org")).one()
    known = session.exec(select(Subscriber).where(Subscriber.email == "known@example.org")).one()
    known.attributes = {**known.attributes, PENDING: {**known.attributes[PENDING], "at": long_ago.isoformat()}}
    session.add(known)
    session.execute(
        update(Subscriber).where(Subscriber.id == stranger.id).values(updated_at=long_ago, created_at=long_ago)
    )
    session.commit()
    stranger_id = stranger.id
    from gll_mail.events import record_event

    record_event(session, EventType.CLICK, source="web", subscriber_id=stranger_id, ip="203.0.113.9")
    session.commit()

    dry = runner.invoke(main, ["subscribers", "purge-unconfirmed", "--dry-run"])
    assert dry.exit_code == 0 and "Would forget 1 unconfirmed address(es)" in dry.output and "of 1 member" in dry.output
    session.expire_all()
    assert session.get(Subscriber, stranger_id) is not None  # a dry run changes nothing
    assert runner.invoke(main, ["subscribers", "purge-unconfirmed", "--older-than", "3"]).exit_code != 0  # < 8 days

    result = purge_unconfirmed(session, older_than=timedelta(days=30))
    session.commit()
    assert (result.deleted, result.cleared) == (1, 1)
    session.expire_all()
    assert session.get(Subscriber, stranger_id) is None
    assert not session.exec(select(Event).where(Event.subscriber_id == stranger_id)).all()  # anonymized
    known = session.exec(select(Subscriber).where(Subscriber.email == "known@example.org")).one()
    assert PENDING not in known.attributes and known.name == "Known Member" and known.is_registered
    recent = session.exec(select(Subscriber).where(Subscriber.email == "recent@example.org")).one()
    assert recent.status == SubscriberStatus.PENDING  # still inside the grace period
    assert not session.exec(select(Suppression)).all()  # never asked not to be mailed: no suppression


def test_a_campaigns_links_carry_it_through_registration_pod_joining_and_unsubscribing(
    client, session, web_settings, smtp_server
):
    """The report of the campaign whose links were followed counts the registration, the pod join
    (on the way to a pod resource) and a later unsubscribe from its manage link."""
    from gll_mail.bounces.reports import campaign_report
    from gll_mail.models import Campaign

    campaign = Campaign(slug="dec-news", subject="GLL December", status="sent")
    session.add(campaign)
    session.commit()
    sub = add_member(session, "wei@example.org", registered=False, name="")
    url = links.gate_url(web_settings, sub.public_id, "compassion-scoping-report", campaign.id)  # a pod resource
    client.post(url, data={**ANSWERS, "csrf_token": csrf(client.get(url))})
    confirm = url_in_text(smtp_server.received[0].data, BASE + "/confirm/")
    done = client.post(confirm, data={"csrf_token": csrf(client.get(confirm))})
    join_page = client.get(done.headers["Location"])  # registered now, but not in the pod
    assert "Join" in join_page.get_data(as_text=True)
    joined = client.post(done.headers["Location"], data={"action": "join", "csrf_token": csrf(join_page)})
    assert joined.status_code == 303
    manage = links.manage_url(web_settings, sub.public_id, campaign.id)
    client.post(manage, data={"action": "unsubscribe", "csrf_token": csrf(client.get(manage))})
    session.expire_all()
    kinds = {
        e.type: e.campaign_id
        for e in session.exec(
            select(Event).where(Event.type.in_([EventType.CONFIRMED, EventType.POD_JOINED, EventType.UNSUBSCRIBED]))
        )
    }
    assert kinds == {
        EventType.CONFIRMED: campaign.id,
        EventType.POD_JOINED: campaign.id,
        EventType.UNSUBSCRIBED: campaign.id,
    }
    report = campaign_report(session, "dec-news")
    assert report["conversions"]["registered"] == 1 and report["conversions"]["joined_pod"] == 1
    assert report["unsubscribes"] == 1 and report["conversions"]["by_country"] == {"China": 1}


def test_confirmation_emails_to_one_address_are_throttled_whoever_asks(client, session, smtp_server):
    """One email per address every 2 minutes and 5 a day, from any number of IPs; the same page always."""
    from datetime import datetime, timedelta

    from gll_mail.members.registration import CONFIRM_MAX_PER_DAY, PENDING

    def ask(name: str) -> str:
        form = client.get(BASE + "/register")
        response = client.post(
            BASE + "/register", data={**ANSWERS, "name": name, "email": "target@example.org", "csrf_token": csrf(form)}
        )
        return response.get_data(as_text=True)

    pages = {ask(f"Try {i}") for i in range(2)}
    assert len(pages) == 1 and len(smtp_server.received) == 1  # the same answer, one email
    member = session.exec(select(Subscriber).where(Subscriber.email == "target@example.org")).one()
    # the answers the sent link confirms stay those it was sent for, whoever posts the form since
    assert fresh(session, Subscriber, member.id).attributes[PENDING]["name"] == "Try 0"

    def age_everything(by: timedelta) -> None:
        sub = fresh(session, Subscriber, member.id)
        pending = dict(sub.attributes[PENDING])
        pending["sent"] = [(datetime.fromisoformat(t) - by).isoformat() for t in pending["sent"]]
        sub.attributes = {**sub.attributes, PENDING: pending}
        session.add(sub)
        session.commit()

    for _ in range(CONFIRM_MAX_PER_DAY):  # every 3 minutes: a new email each time, up to the daily cap
        age_everything(timedelta(minutes=3))
        ask("Again")
    assert len(smtp_server.received) == CONFIRM_MAX_PER_DAY
    age_everything(timedelta(days=1))  # a day later the address may be asked again
    ask("Tomorrow")
    assert len(smtp_server.received) == CONFIRM_MAX_PER_DAY + 1


def test_simultaneous_registrations_of_one_new_address_all_get_the_same_page(app, smtp_server):
    """Two people (or one double click) registering a new address at once: never a 500 that would
    tell a known address from a new one."""
    import threading

    statuses, barrier = [], threading.Barrier(6)

    def register(n: int) -> None:
        client = app.test_client()
        form = client.get(BASE + "/register")
        barrier.wait()
        response = client.post(
            BASE + "/register", data={**ANSWERS, "email": f"same{n // 6}@example.org", "csrf_token": csrf(form)}
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 6


def test_a_confirm_link_confirms_only_the_answers_it_was_sent_for(client, session, smtp_server):
    """Someone posts the form for a member's address: neither the member's pending link nor an old,
    already used one slips the stranger's answers into the member's profile."""
    from gll_mail.members.registration import PENDING

    def post(name: str, country: str):
        form = client.get(BASE + "/register")
        client.post(
            BASE + "/register",
            data={**ANSWERS, "name": name, "country": country, "email": "wei@example.org", "csrf_token": csrf(form)},
        )

    def confirm(link):
        page = client.get(link)
        return client.post(link, data={"csrf_token": csrf(page)})

    post("Wei Zhang", "China")
    first = url_in_text(smtp_server.received[0].data, BASE + "/confirm/")
    post("Pwned by a stranger", "Atlantis")  # within 2 minutes: no email, and the pending answers stay
    assert confirm(first).status_code == 200
    member = session.exec(select(Subscriber).where(Subscriber.email == "wei@example.org")).one()
    assert (fresh(session, Subscriber, member.id).name, member.country) == ("Wei Zhang", "China")

    post("Pwned again", "Atlantis")  # later: a new request, with its own email to Wei
    assert len(smtp_server.received) == 2 and PENDING in fresh(session, Subscriber, member.id).attributes
    again = confirm(first)  # the old, used link replayed: nothing newer is applied
    assert again.status_code in (200, 303)
    assert (fresh(session, Subscriber, member.id).name, member.country) == ("Wei Zhang", "China")


@pytest.mark.parametrize("address", ["busy@example.org", "new@example.org"])
def test_simultaneous_requests_for_one_address_send_one_email(any_engine, web_settings, smtp_server, address):
    """Eight requests at once from eight clients for one address, a member's or a new one: the row
    lock (PostgreSQL) or the write lock (SQLite) lets one email through."""
    import threading

    from sqlmodel import Session

    with Session(any_engine) as session:
        add_member(session, "busy@example.org", registered=False)
    app = create_app(
        web_settings.replace(database_url=any_engine.url.render_as_string(hide_password=False)), any_engine
    )
    statuses, barrier = [], threading.Barrier(8)

    def register() -> None:
        client = app.test_client()
        form = client.get(BASE + "/register")
        barrier.wait()
        response = client.post(BASE + "/register", data={**ANSWERS, "email": address, "csrf_token": csrf(form)})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 8 and len(smtp_server.received) == 1


def test_controls_in_the_answers_are_removed_and_confirm_works_on_both_databases(any_engine, web_settings, smtp_server):
    """A NUL in the name used to be kept as pending, then every /confirm was a 500 on PostgreSQL."""
    from web_support import url_in_text

    from gll_mail.db import session_scope
    from gll_mail.demo.data import seed_catalog

    with session_scope(any_engine) as s:
        seed_catalog(s, web_settings.resources_dir)
    client = create_app(web_settings, any_engine).test_client()
    form = client.get(BASE + "/register")
    sent = client.post(
        BASE + "/register",
        data={
            **ANSWERS,
            "email": "wei@example.org",
            "name": "Wei\x00 \u202eZhang\u200b",
            "country": "Chi\x00na",
            "organization": "Peking\x1b Union\tHospital\u2066",
            "role": "\x7fNurse\x9b",
            "csrf_token": csrf(form),
        },
    )
    assert sent.status_code == 200
    confirm = url_in_text(smtp_server.received[0].data, BASE + "/confirm/")
    with session_scope(any_engine) as s:
        pending = s.exec(select(Subscriber)).one().attributes["pending_registration"]
        assert (pending["name"], pending["country"]) == ("Wei Zhang", "China")
    page = client.get(confirm)
    assert page.status_code == 200
    done = client.post(confirm, data={"csrf_token": csrf(page)})
    assert done.status_code in (200, 303)
    with session_scope(any_engine) as s:
        member = s.exec(select(Subscriber)).one()
        assert (member.name, member.country, member.organization, member.role) == (
            "Wei Zhang",
            "China",
            "Peking Union Hospital",
            "Nurse",
        )
        assert member.registered_at is not None and member.status == SubscriberStatus.ACTIVE


def test_answers_kept_with_a_nul_before_the_rule_still_confirm(any_engine, web_settings, smtp_server):
    from web_support import url_in_text

    from gll_mail.db import session_scope
    from gll_mail.demo.data import seed_catalog

    with session_scope(any_engine) as s:
        seed_catalog(s, web_settings.resources_dir)
    client = create_app(web_settings, any_engine).test_client()
    form = client.get(BASE + "/register")
    client.post(BASE + "/register", data={**ANSWERS, "email": "ana@example.org", "csrf_token": csrf(form)})
    confirm = url_in_text(smtp_server.received[0].data, BASE + "/confirm/")
    with session_scope(any_engine) as s:  # as a registration stored by an earlier version would be
        member = s.exec(select(Subscriber)).one()
        attributes = dict(member.attributes)
        attributes["pending_registration"] = {**attributes["pending_registration"], "name": "Ana\x00 Silva"}
        member.attributes = attributes
        s.add(member)
    page = client.get(confirm)
    assert client.post(confirm, data={"csrf_token": csrf(page)}).status_code in (200, 303)
    with session_scope(any_engine) as s:
        assert s.exec(select(Subscriber.name)).one() == "Ana Silva"


def test_the_front_page_is_the_public_registration_form(client):
    response = client.get(BASE + "/", headers={"Accept-Language": "ar"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="ar" dir="rtl"' in html
    assert 'action="/register"' in html and 'name="email"' in html and "This link is not valid" not in html
