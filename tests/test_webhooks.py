"""Webhooks from the domain functions to a real HTTP receiver: signed, retried on a schedule, de-duplicable."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select
from test_bounces import as_delivered, seed
from webhook_support import Receiver, verify

from gll_mail.bounces.intake import receive
from gll_mail.campaigns import lifecycle
from gll_mail.catalog import create_pod, join_pod, leave_pod
from gll_mail.events import WEBHOOK_EVENTS, emit_webhook
from gll_mail.importer import import_csv
from gll_mail.members import preferences
from gll_mail.models import AuditEntry, Campaign, Subscriber, WebhookDelivery, utcnow
from gll_mail.team.audit import COMMAND_LINE
from gll_mail.webhooks import endpoints as hooks
from gll_mail.webhooks.sender import WebhookTargetError, backoff, deliver_all, deliver_due, resolve
from gll_mail.webhooks.signing import body_of, headers, new_secret


def add(engine, settings, url, events="all"):
    with Session(engine) as session:
        endpoint = hooks.add_endpoint(session, settings, COMMAND_LINE, url, events)
        session.commit()
        return endpoint.public_id, endpoint.secret


def rows(engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_the_signer_agrees_with_an_independent_verifier():
    secret = new_secret()
    body = body_of({"type": "pod.joined", "data": {"é": 1}})
    signed = headers([secret, new_secret()], "msg_1", 1700000000, body)
    assert verify(secret, signed, body)["data"] == {"é": 1}
    assert len(signed["webhook-signature"].split()) == 2  # a rotation: both secrets sign
    with pytest.raises(ValueError):
        verify(secret, {**signed, "webhook-timestamp": "1700000001"}, body)
    with pytest.raises(ValueError):
        verify(new_secret(), signed, body)


def test_member_changes_arrive_signed_in_order_and_erasure_leaves_only_the_id(any_engine, settings, tmp_path):
    engine = any_engine
    with Receiver() as receiver:
        _, secret = add(engine, settings, receiver.url)
        csv = tmp_path / "members.csv"
        csv.write_text("email,name\nana@example.org,Ana\nbo@example.org,Bo\n")
        import_csv(engine, csv)
        with Session(engine) as session:
            pod = create_pod(session, slug="hta", name="HTA pod")
            ana = session.exec(select(Subscriber).where(Subscriber.email == "ana@example.org")).one()
            join_pod(session, ana, pod, source="test")
            session.commit()
            preferences.set_profile(session, ana, {"name": "Ana M.", "organization": "WHO"}, source="web")
            preferences.set_paused(session, ana, True, source="web")  # one transaction: one update
            session.commit()
            leave_pod(session, ana, pod, source="test")
            preferences.unsubscribe(session, ana, source="web")
            session.commit()
            join_pod(session, ana, pod, source="test")
            session.rollback()  # a change that does not commit sends nothing
            ana_id = ana.public_id
            bo = session.exec(select(Subscriber).where(Subscriber.email == "bo@example.org")).one()
            preferences.delete_account(session, bo, source="web")
            session.commit()
        assert deliver_all(engine, settings).delivered == 7
        got = receiver.events(secret)
    types = [payload["type"] for _, payload in got]
    assert types == [
        "subscriber.created",
        "subscriber.created",
        "pod.joined",
        "subscriber.updated",
        "pod.left",
        "subscriber.unsubscribed",
        "subscriber.erased",
    ]
    by_type = {}
    for _, payload in got:
        by_type.setdefault(payload["type"], []).append(payload["data"])
    assert by_type["pod.joined"] == [{"subscriber": {"id": ana_id, "email": "ana@example.org"}, "pod": {"slug": "hta"}}]
    assert by_type["subscriber.updated"] == [
        {"subscriber": {"id": ana_id, "email": "ana@example.org"}, "changes": ["name", "organization", "paused"]}
    ]
    erased = by_type["subscriber.erased"][0]
    assert set(erased) == {"subscriber"} and set(erased["subscriber"]) == {"id"}
    created = [d["subscriber"] for d in by_type["subscriber.created"]]
    assert {"id": erased["subscriber"]["id"]} in created  # bo's, not sent before the erasure, kept only the id
    assert "bo@example.org" not in str(got)
    assert len({message_id for message_id, _ in got}) == len(got)


def test_hard_bounces_complaints_and_a_sent_campaign(any_engine, settings):
    engine = any_engine
    with Session(engine) as session:
        seed(session)
    with Receiver() as receiver:
        _, secret = add(engine, settings, receiver.url, "bounce.hard,complaint,campaign.sent")
        receive(engine, settings, as_delivered(settings, "exim-failed"), source="test")
        receive(engine, settings, as_delivered(settings, "arf-complaint"), source="test")
        with Session(engine) as session:
            campaign = Campaign(slug="done", subject="Done", status="sending")
            session.add(campaign)
            session.commit()
            assert lifecycle.finish(engine, campaign.id)
        deliver_all(engine, settings)
        got = [payload for _, payload in receiver.events(secret)]
    assert [p["type"] for p in got] == ["bounce.hard", "complaint", "campaign.sent"]
    assert got[0]["data"]["subscriber"]["email"] == "erik.larsen@example.net"
    assert got[0]["data"]["campaign"] == {"slug": "nov-news"}
    assert got[2]["data"] == {"campaign": {"slug": "done"}, "deliveries": {}}


def test_only_the_events_asked_for_and_every_event_name_is_accepted(engine, settings):
    add(engine, settings, "http://127.0.0.1:9/a", "pod.left")
    with Session(engine) as session:
        pod = create_pod(session, slug="p", name="P")
        member = Subscriber(email="x@example.org")
        session.add(member)
        session.flush()
        join_pod(session, member, pod, source="test")
        leave_pod(session, member, pod, source="test")
        session.commit()
    assert [r.type for r in rows(engine)] == ["pod.left"]
    assert hooks.parse_events("all") == list(WEBHOOK_EVENTS)
    with pytest.raises(hooks.WebhookError, match="unknown event 'pod.created'"):
        hooks.parse_events("pod.created")


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


def test_retries_back_off_exponentially_with_jitter_then_give_up(engine, settings):
    settings = settings.replace(webhook_retry_base_seconds=10, webhook_give_up_hours=1)
    add(engine, settings, "http://127.0.0.1:9/down", "subscriber.created")
    clock = Clock()
    with Session(engine) as session:
        emit_webhook(session, "subscriber.created", {"subscriber": {"id": "x"}}, at=clock.now)
        session.commit()
    answers: list[str] = []

    def poster(url, signed, body):
        answers.append(signed["webhook-id"])
        return 503

    delays = []
    rng = random.Random(7)
    while True:
        done = deliver_due(engine, settings, clock=clock, rng=rng, poster=poster)
        row = rows(engine)[0]
        if row.status != "pending":
            break
        assert done.retrying == 1
        delays.append((row.next_attempt_at - clock.now).total_seconds())
        assert deliver_due(engine, settings, clock=clock, poster=poster).tried == 0  # not due before its time
        clock.now = row.next_attempt_at
    for tries, delay in enumerate(delays, start=1):
        full = 10 * 2 ** (tries - 1)
        assert full / 2 <= delay <= full  # doubling, with jitter
    assert row.status == "failed" and row.attempts == len(delays) + 1
    assert row.last_error == f"given up after {row.attempts} tries" and row.last_status_code == 503
    assert sum(delays) <= 3600 and len(set(answers)) == 1  # the same webhook-id on every try
    assert backoff(40, 10, random.Random(1)) <= 86400


def test_redirects_are_not_followed_and_errors_are_logged(engine, settings):
    with Receiver(plan=[302, 500]) as receiver:
        add(engine, settings, receiver.url)
        with Session(engine) as session:
            hooks.send_test(session, COMMAND_LINE, hooks.list_endpoints(session, COMMAND_LINE)[0].public_id)
            session.commit()
        clock = Clock()
        deliver_due(engine, settings, clock=clock)
        row = rows(engine)[0]
        assert row.last_status_code == 302 and row.last_error == "a redirect: not followed"
        clock.now = row.next_attempt_at
        deliver_due(engine, settings, clock=clock)
        clock.now = rows(engine)[0].next_attempt_at
        deliver_due(engine, settings, clock=clock)
        assert len(receiver.received) == 3  # nothing went to the Location
    row = rows(engine)[0]
    assert row.status == "delivered" and row.attempts == 3 and row.last_status_code == 204


def test_private_targets_are_refused_in_production(settings, engine):
    with pytest.raises(WebhookTargetError, match="GLL_MAIL_WEBHOOK_ALLOW_PRIVATE"):
        resolve("http://127.0.0.1:8080/x", allow_private=False)
    assert resolve("http://127.0.0.1:8080/x", allow_private=True) == "127.0.0.1"
    production = settings.replace(env="production")
    assert not production.webhook_private_allowed and settings.webhook_private_allowed
    with Session(engine) as session:
        with pytest.raises(hooks.WebhookError, match="private"):
            hooks.add_endpoint(session, production, COMMAND_LINE, "http://localhost:9/x", "all")
        for bad in ("ftp://example.org/x", "javascript:alert(1)", "http://user:pw@example.org/"):
            with pytest.raises(hooks.WebhookError):
                hooks.add_endpoint(session, settings, COMMAND_LINE, bad, "all")
    assert production.replace(webhook_allow_private=True).webhook_private_allowed


def test_rotation_signs_with_both_secrets_for_a_day_and_everything_is_audited(engine, settings):
    with Receiver() as receiver:
        public_id, old = add(engine, settings, receiver.url)
        with Session(engine) as session:
            new = hooks.rotate_secret(session, COMMAND_LINE, public_id).secret
            hooks.send_test(session, COMMAND_LINE, public_id)
            session.commit()
        deliver_all(engine, settings)
        ((_, payload),) = receiver.events(new)
        assert (
            receiver.events(old)[0][1]
            == payload
            == {
                "type": "webhook.test",
                "timestamp": payload["timestamp"],
                "data": {"endpoint": public_id},
            }
        )
        later = Clock()
        later.now += timedelta(hours=25)
        with Session(engine) as session:
            hooks.send_test(session, COMMAND_LINE, public_id)
            hooks.remove_endpoint(
                session,
                COMMAND_LINE,
                hooks.add_endpoint(session, settings, COMMAND_LINE, receiver.url, "all").public_id,
            )
            session.commit()
        deliver_all(engine, settings, clock=later)
        assert len(receiver.received) == 2
        receiver.events(new)
        with pytest.raises(ValueError):
            receiver.events(old)  # the old secret no longer signs
    with Session(engine) as session:
        actions = [a.action for a in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == [
            "webhook.add",
            "webhook.rotate-secret",
            "webhook.test",
            "webhook.test",
            "webhook.add",
            "webhook.remove",
        ]
        assert new not in str([a.details for a in session.exec(select(AuditEntry))])


def test_the_verification_snippet_in_the_docs_works():
    text = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text(encoding="utf-8")
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(snippet, "docs/webhooks.md", "exec"), namespace)
    secret, body = new_secret(), body_of({"type": "complaint", "data": {}})
    signed = headers([secret], "msg_x", int(time.time()), body)
    assert namespace["verify"](secret, signed, body) == {"type": "complaint", "data": {}}
    with pytest.raises(ValueError):
        namespace["verify"](secret, {**signed, "webhook-timestamp": str(int(time.time()) - 3600)}, body)


def test_an_address_the_smtp_server_refuses_is_a_bounce_hard_too(any_engine, settings):
    from test_ledger import _claimed

    from gll_mail.delivery.ledger import suppress_hard_bounces

    add(any_engine, settings, "http://127.0.0.1:9/x", "bounce.hard")
    _, emails, claimed = _claimed(any_engine, 1)
    with any_engine.begin() as connection:
        suppress_hard_bounces(connection, [(emails[0], claimed[0], "550 5.1.1 no such user")])
    (row,) = rows(any_engine)
    assert row.type == "bounce.hard" and row.payload["data"]["subscriber"]["email"] == emails[0]


def test_an_endpoint_that_is_down_does_not_hold_up_the_others(engine, settings):
    clock = Clock()
    with Receiver() as up:
        add(engine, settings, "http://127.0.0.1:9/down", "subscriber.created")  # nothing listens on port 9
        _, secret = add(engine, settings, up.url, "subscriber.created")
        with engine.begin() as connection:
            from gll_mail.events import emit_webhooks

            emit_webhooks(connection, "subscriber.created", [({"n": i}, None) for i in range(3)], at=clock.now)
        done = deliver_due(engine, settings, clock=clock)
        assert len(up.events(secret)) == 3
    assert (done.delivered, done.retrying) == (3, 3)
    down = [r for r in rows(engine) if r.status == "pending"]
    assert [r.attempts for r in down] == [1, 0, 0]  # one try; the others wait with it, no try counted
    assert len({r.next_attempt_at for r in down}) == 1 and down[0].next_attempt_at > clock.now
    assert "refused" in down[0].last_error.lower()


def test_an_import_into_a_pod_says_who_joined_it_once(any_engine, settings, tmp_path):
    with Session(any_engine) as session:
        create_pod(session, slug="hta", name="HTA pod")
        session.add(Subscriber(email="old@example.org"))
        session.commit()
    add(any_engine, settings, "http://127.0.0.1:9/x", "pod.joined,subscriber.updated")
    csv = tmp_path / "pod.csv"
    csv.write_text("email,name\nold@example.org,Old Member\nnew@example.org,New\n")
    import_csv(any_engine, csv, pods=["hta"])
    import_csv(any_engine, csv, pods=["hta"])  # nothing new the second time
    got = [
        (r.type, r.payload["data"]["subscriber"]["email"], r.payload["data"].get("changes")) for r in rows(any_engine)
    ]
    assert sorted(got, key=str) == sorted(
        [
            ("subscriber.updated", "old@example.org", ["name"]),
            ("pod.joined", "old@example.org", None),
            ("pod.joined", "new@example.org", None),
        ],
        key=str,
    )


def test_the_member_web_registration_is_one_created_and_registering_again_an_update(
    client, engine, settings, session, smtp_server
):
    from test_registration import ANSWERS
    from web_support import BASE, add_member, csrf, url_in_text

    add(engine, settings, "http://127.0.0.1:9/x")
    back = add_member(session, "back@example.org")
    preferences.unsubscribe(session, back, source="web")
    session.commit()
    for n, email in enumerate(("new@example.org", "back@example.org")):
        form = client.get(BASE + "/register")
        client.post(BASE + "/register", data={**ANSWERS, "email": email, "csrf_token": csrf(form)})
        confirm = url_in_text(smtp_server.received[n].data, BASE + "/confirm/")
        client.post(confirm, data={"csrf_token": csrf(client.get(confirm))})
    got = [(r.type, r.payload["data"]["subscriber"]["email"], r.payload["data"].get("changes")) for r in rows(engine)]
    assert got == [
        ("subscriber.unsubscribed", "back@example.org", None),
        ("subscriber.created", "new@example.org", None),  # its topics and consent: part of the creation
        ("subscriber.updated", "back@example.org", ["registration"]),
    ]
