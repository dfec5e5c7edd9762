"""The REST API: tokens, the authorization matrix (every route × every role, no token, a revoked one),
ETag/If-Match, Idempotency-Key, problem+json, four-eyes approval, rate limits; SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading

import pytest
from api_support import USERS, api_app, auth
from sqlmodel import Session, select

from gll_mail.models import ApiToken, AuditEntry, Subscriber
from gll_mail.team.roles import ACTIONS, rank
from gll_mail.web.api.core import PREFIX

HOST = {"Host": "gll.example.org"}


@pytest.fixture
def api(team_settings, any_engine):
    app, tokens = api_app(team_settings.replace(database_url=str(any_engine.url)), any_engine)
    return app, tokens, any_engine


def routes(app):
    """(method, path with placeholders filled, action) of every protected API route."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        action = getattr(app.view_functions[rule.endpoint], "api_action", None)
        if action is None:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "nobody" if m.group(1) == "key" else "no-such-thing", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path, action))
    return found


def test_every_route_checks_the_role_of_its_token(api):
    app, tokens, _engine = api
    client = app.test_client()
    found = routes(app)
    assert len(found) >= 45
    for method, path, action in found:
        for role in USERS:
            r = client.open(path, method=method, json={}, headers=auth(tokens[role]))
            allowed = rank(role) >= rank(ACTIONS[action])
            assert r.mimetype in ("application/json", "application/problem+json"), (method, path)
            if allowed:
                assert r.status_code not in (401, 403) and r.status_code < 500, (method, path, role, r.get_json())
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)
                assert r.mimetype == "application/problem+json"
        for bad in ({}, auth(tokens["revoked"]), auth("gllm_not-a-token")):
            r = client.open(path, method=method, json={}, headers={**HOST, **bad})
            assert r.status_code == 401 and r.get_json()["type"].endswith("/unauthorized"), (method, path)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_hashed_and_record_their_last_use(api):
    app, tokens, engine = api
    assert app.test_client().get(f"{PREFIX}/subscribers", headers=auth(tokens["viewer"])).status_code == 200
    with Session(engine) as session:
        rows = {t.name: t for t in session.exec(select(ApiToken))}
    assert all(tokens[role] not in (t.secret_hash, t.prefix) for t in rows.values() for role in USERS)
    assert rows["t-viewer"].last_used_at is not None and rows["t-editor"].last_used_at is None
    assert app.test_client().get(f"{PREFIX}/pods", headers=auth(tokens["service"])).status_code == 200
    with Session(engine) as session:
        assert session.exec(select(ApiToken).where(ApiToken.name == "t-service")).one().last_used_at is not None


def _member(client, token, email="nadia@example.org", **headers):
    return client.post(f"{PREFIX}/subscribers", json={"email": email, "name": "Nadia"}, headers=auth(token, **headers))


def test_a_retried_post_with_the_same_idempotency_key_creates_one_subscriber(api):
    app, tokens, engine = api
    client = app.test_client()
    first = _member(client, tokens["editor"], **{"Idempotency-Key": "sync-42"})
    again = _member(client, tokens["editor"], **{"Idempotency-Key": "sync-42"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    with Session(engine) as session:
        assert len(session.exec(select(Subscriber).where(Subscriber.email == "nadia@example.org")).all()) == 1
    other = client.post(
        f"{PREFIX}/subscribers",
        json={"email": "omar@example.org"},
        headers=auth(tokens["editor"], **{"Idempotency-Key": "sync-42"}),
    )
    assert other.status_code == 409 and other.get_json()["type"].endswith("/idempotency-conflict")
    assert _member(client, tokens["editor"]).status_code == 409  # without a key: already a member
    fresh = _member(client, tokens["admin"], **{"Idempotency-Key": "sync-42"})  # keys are per token
    assert fresh.status_code == 409 and fresh.get_json()["type"].endswith("/conflict")


def test_an_update_needs_the_current_etag(api):
    app, tokens, _engine = api
    client = app.test_client()
    created = _member(client, tokens["editor"])
    url, tag = created.headers["Location"], created.headers["ETag"]
    assert client.patch(url, json={"name": "N."}, headers=auth(tokens["editor"])).status_code == 428
    ok = client.patch(url, json={"name": "N."}, headers=auth(tokens["editor"], **{"If-Match": tag}))
    assert ok.status_code == 200 and ok.get_json()["name"] == "N." and ok.headers["ETag"] != tag
    stale = client.patch(url, json={"name": "X"}, headers=auth(tokens["editor"], **{"If-Match": tag}))
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    assert client.get(url, headers=auth(tokens["viewer"])).get_json()["name"] == "N."


def test_two_concurrent_updates_with_the_same_etag_give_exactly_one_412(api):
    app, tokens, _engine = api
    created = _member(app.test_client(), tokens["editor"])
    url, tag = created.headers["Location"], created.headers["ETag"]
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def update(name: str) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.patch(url, json={"name": name}, headers=auth(tokens["editor"], **{"If-Match": tag}))
        statuses.append(r.status_code)

    threads = [threading.Thread(target=update, args=(name,)) for name in ("One", "Two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200, 412]


def test_batch_create_search_and_cursor(api):
    app, tokens, _engine = api
    client = app.test_client()
    batch = [{"email": f"m{i}@example.org", "country": "Kenya"} for i in range(25)] + [{"email": "not-an-address"}]
    r = client.post(f"{PREFIX}/subscribers/batch", json={"subscribers": batch}, headers=auth(tokens["editor"]))
    report = r.get_json()
    assert r.status_code == 200 and report["imported"] == 25 and report["skipped"] == 1
    seen, cursor = [], None
    while True:
        query = {"country": "Kenya", "limit": 10} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"{PREFIX}/subscribers", query_string=query, headers=auth(tokens["viewer"])).get_json()
        seen += [row["email"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 25
    bad = client.get(f"{PREFIX}/subscribers", query_string={"limit": 0}, headers=auth(tokens["viewer"]))
    assert bad.status_code == 422 and bad.get_json()["type"].endswith("/validation") and bad.get_json()["errors"]


def test_changes_are_audited_under_the_tokens_account_or_name(api):
    app, tokens, engine = api
    client = app.test_client()
    _member(client, tokens["editor"])
    client.post(f"{PREFIX}/pods", json={"slug": "new-pod", "name": "New pod"}, headers=auth(tokens["service"]))
    with Session(engine) as session:
        entries = {(e.action, e.username) for e in session.exec(select(AuditEntry))}
    assert ("member.create", "eve") in entries and ("pod.create", "token:t-service") in entries


def test_service_tokens_never_approve_and_authors_cannot_approve_their_own(api):
    app, tokens, _engine = api
    client = app.test_client()
    from team_support import EN

    created = client.post(
        f"{PREFIX}/campaigns", json={"slug": "dec-news", "files": {"en": EN}}, headers=auth(tokens["approver"])
    )
    assert created.status_code == 201, created.get_json()
    service = client.post(f"{PREFIX}/campaigns/dec-news/approve", json={}, headers=auth(tokens["service"]))
    assert service.status_code == 403 and "service token" in service.get_json()["detail"]
    own = client.post(f"{PREFIX}/campaigns/dec-news/approve", json={}, headers=auth(tokens["approver"]))
    assert own.status_code == 403 and "another approver" in own.get_json()["detail"]
    other = client.post(f"{PREFIX}/campaigns/dec-news/approve", json={}, headers=auth(tokens["admin"]))
    assert other.status_code == 200 and other.get_json()["decision"] == "approved"


def test_campaign_sources_need_the_current_etag(api):
    app, tokens, _engine = api
    client = app.test_client()
    from team_support import AR, EN

    created = client.post(
        f"{PREFIX}/campaigns", json={"slug": "dec-news", "files": {"en": EN}}, headers=auth(tokens["editor"])
    )
    tag = created.headers["ETag"]
    url = f"{PREFIX}/campaigns/dec-news/sources"
    ok = client.patch(url, json={"files": {"ar": AR}}, headers=auth(tokens["editor"], **{"If-Match": tag}))
    assert ok.status_code == 200 and set(ok.get_json()["files"]) == {"en", "ar"}
    stale = client.patch(url, json={"files": {"ar": None}}, headers=auth(tokens["editor"], **{"If-Match": tag}))
    assert stale.status_code == 412
    preflight = client.post(f"{PREFIX}/campaigns/dec-news/preflight", headers=auth(tokens["editor"]))
    assert preflight.status_code == 200 and "ok" in preflight.get_json()
    preview = client.get(f"{PREFIX}/campaigns/dec-news/preview?language=ar", headers=auth(tokens["editor"]))
    assert preview.status_code == 200 and preview.get_json()["language"] == "ar"


def test_rate_limit_answers_429_with_retry_after(team_settings, engine):
    app, tokens = api_app(team_settings.replace(api_rate_limit=3), engine)
    client = app.test_client()
    answers = [client.get(f"{PREFIX}/pods", headers=auth(tokens["viewer"])) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].headers["Retry-After"] == "60" and answers[-1].mimetype == "application/problem+json"
    assert client.get(f"{PREFIX}/pods", headers=auth(tokens["editor"])).status_code == 200  # per token


def test_openapi_document_and_reference_page(api):
    app, _tokens, _engine = api
    client = app.test_client()
    doc = client.get(f"{PREFIX}/openapi.json", headers=HOST).get_json()
    assert doc["openapi"].startswith("3.1") and "/api/v1/subscribers/{key}" in doc["paths"]
    assert any(p["name"] == "Idempotency-Key" for p in doc["paths"]["/api/v1/subscribers"]["post"]["parameters"])
    page = client.get(f"{PREFIX}/docs", headers=HOST)
    assert page.status_code == 200 and b"<script" not in page.data and b"/api/v1/subscribers/{key}" in page.data
    assert "script-src" not in page.headers["Content-Security-Policy"]


def test_cli_creates_lists_and_revokes_tokens(runner, engine):
    from team_support import team

    with Session(engine) as session:
        team(session)
        session.commit()
    made = runner.invoke(
        __import__("gll_mail.cli", fromlist=["main"]).main,
        ["api", "token", "create", "sync", "--role", "editor", "--user", "eve"],
    )
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("gllm_") and " " not in secret
    main = __import__("gll_mail.cli", fromlist=["main"]).main
    listed = runner.invoke(main, ["api", "token", "list"])
    assert "sync" in listed.output and secret not in listed.output and "eve" in listed.output
    too_much = runner.invoke(main, ["api", "token", "create", "boss", "--role", "admin", "--user", "eve"])
    assert too_much.exit_code != 0 and "at most editor" in too_much.output
    assert runner.invoke(main, ["api", "token", "revoke", "sync"]).exit_code == 0
    assert "sync" not in runner.invoke(main, ["api", "token", "list"]).output
