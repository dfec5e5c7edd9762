"""Security of the member web: headers, CSRF cookie, rate limits, input limits, escaping, strings."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from web_support import BASE, add_member, csrf

from gll_mail import links
from gll_mail.languages import LANGUAGES, language_tag
from gll_mail.models import Resource
from gll_mail.web import create_app


def test_security_headers_on_pages_and_errors(client, session, web_settings):
    member = add_member(session, "amina@example.org")
    for url in (BASE + "/register", links.manage_url(web_settings, member.public_id), BASE + "/r/forged"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"].startswith("no-store")
        html = response.get_data(as_text=True)
        assert "<script" not in html and "style=" not in html  # nothing the CSP would block
        assert '<meta name="viewport"' in html


def test_csrf_cookie_is_httponly_samesite_and_secure(client):
    response = client.get(BASE + "/register")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_register_post_without_csrf_is_refused(client, smtp_server):
    response = client.post(BASE + "/register", data={"email": "x@example.org", "name": "X", "consent": "yes"})
    assert response.status_code == 403 and smtp_server.received == []


def test_token_endpoints_are_rate_limited(web_settings, engine, session):
    member = add_member(session, "amina@example.org")
    client = create_app(web_settings.replace(web_rate_limit=3), engine).test_client()
    url = links.manage_url(web_settings, member.public_id)
    statuses = [client.get(url).status_code for _ in range(3)] + [client.get(BASE + "/u/forged").status_code]
    assert statuses == [200, 200, 200, 429]
    response = client.get(url)
    assert "Too many requests" in response.get_data(as_text=True)


def test_one_click_posts_from_one_mailbox_provider_are_not_cut_at_the_links_limit(web_settings, engine, session):
    client = create_app(web_settings.replace(web_rate_limit=3), engine).test_client()
    members = [add_member(session, f"m{i}@gmail.example") for i in range(8)]
    statuses = [
        client.post(
            links.unsubscribe_url(web_settings, m.public_id), data={"List-Unsubscribe": "One-Click"}
        ).status_code
        for m in members
    ]
    assert statuses == [200] * 8
    assert client.get(links.manage_url(web_settings, members[0].public_id)).status_code == 200  # links: own bucket
    session.expire_all()
    assert all(session.get(type(m), m.id).status == "unsubscribed" for m in members)


def test_input_limits(client, session, web_settings):
    response = client.post(BASE + "/register", data={"name": "x" * 70_000})
    assert response.status_code == 413 and "Too much data" in response.get_data(as_text=True)
    assert client.get(BASE + "/m/" + "a" * 2000).status_code == 400


def test_member_text_is_escaped(client, session, web_settings):
    member = add_member(session, "amina@example.org", name='<script>alert("x")</script>')
    html = client.get(links.manage_url(web_settings, member.public_id)).get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_join_form_may_lead_to_the_resource_origin_only(client, session, web_settings):
    session.add(
        Resource(slug="pod-site", title="Pod site", url="https://learning.who.int/pod/x", access="pod:compassion")
    )
    member = add_member(session, "amina@example.org")
    response = client.get(links.gate_url(web_settings, member.public_id, "pod-site"))
    assert "form-action 'self' https://learning.who.int;" in response.headers["Content-Security-Policy"]


def test_server_errors_are_friendly_without_stack_trace(web_settings, engine, session):
    app = create_app(web_settings, engine)

    def boom():
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom", "boom", boom)
    response = app.test_client().get(BASE + "/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong on our side" in html
    assert "secret internals" not in html and "Traceback" not in html


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_pages_in_every_language(client, session, web_settings, language):
    member = add_member(session, f"{language}@example.org", language=language)
    for url in (
        links.manage_url(web_settings, member.public_id),
        links.unsubscribe_url(web_settings, member.public_id),
        BASE + f"/register?lang={language}",
    ):
        response = client.get(url)
        html = response.get_data(as_text=True)
        direction = "rtl" if language == "ar" else "ltr"
        tag = language_tag(language)  # zh-Hans
        assert response.status_code == 200 and f'<html lang="{tag}" dir="{direction}">' in html
        assert response.headers["Content-Language"] == tag
        for field in re.findall(r'<input id="([a-z-]+)"', html):
            assert f'for="{field}"' in html, (url, field)  # every input has a label


def test_client_address_behind_a_proxy(web_settings, engine, session, smtp_server):
    app = create_app(web_settings.replace(web_proxies=1), engine)
    client = app.test_client()
    form = client.get(BASE + "/register")
    client.post(
        BASE + "/register",
        headers={"X-Forwarded-For": "203.0.113.9"},
        data={"email": "p@example.org", "name": "P", "consent": "yes", "csrf_token": csrf(form)},
    )
    from gll_mail.models import Subscriber

    pending = session.exec(select(Subscriber).where(Subscriber.email == "p@example.org")).one()
    assert pending.attributes["pending_registration"]["ip"] == "203.0.113.9"


def test_no_get_or_head_changes_member_state(client, session, web_settings):
    """Every member URL, fetched as a person or a scanner would, leaves members, pods, topics alone."""
    from gll_mail.members.registration import PENDING
    from gll_mail.models import PodMembership, Subscriber, Subscription, Suppression

    registered = add_member(session, "reg@example.org")
    newcomer = add_member(session, "new@example.org", registered=False)
    newcomer.attributes = {PENDING: {"name": "N", "language": "en", "ip": "", "at": ""}}
    session.add(newcomer)
    session.commit()

    def snapshot():
        session.expire_all()
        return [
            sorted(repr(row.model_dump(exclude={"updated_at"})) for row in session.exec(select(model)))
            for model in (Subscriber, PodMembership, Subscription, Suppression)
        ]

    before = snapshot()
    urls = []
    for member in (registered, newcomer):
        pid = member.public_id
        urls += [
            links.gate_url(web_settings, pid, "codevelopment-synthesis-report"),
            links.gate_url(web_settings, pid, "compassion-tools"),
            links.join_pod_url(web_settings, pid, "ipc"),
            links.join_pod_url(web_settings, pid, "ipc", "compassion-tools"),
            links.manage_url(web_settings, pid),
            links.unsubscribe_url(web_settings, pid),
            links.confirm_url(web_settings, pid, "compassion-tools"),
        ]
    urls.append(BASE + "/register")
    for url in urls:
        for method in ("GET", "HEAD"):
            response = client.open(url, method=method)
            assert response.status_code < 400, (method, url)
            response.close()
    assert snapshot() == before


def test_stylesheet_is_served_from_memory_with_revalidation(client):
    page = client.get(BASE + "/register")
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.get_data(as_text=True)).group(1)
    first = client.get(BASE + href)
    assert first.status_code == 200 and first.content_type == "text/css; charset=utf-8"
    assert b"body" in first.data and first.headers["Cache-Control"] == "public, max-age=300"
    assert first.headers["Content-Security-Policy"].startswith("default-src 'none'")
    again = client.get(BASE + href, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.get(BASE + "/static/../__init__.py").status_code == 404
    assert client.get(BASE + "/static/missing.css").status_code == 404


def test_a_foreign_host_gets_400_and_no_url_is_built_from_it(client, session, web_settings):
    """GET /r//abc with Host: evil.example used to answer 308 to http://evil.example/r/abc."""
    response = client.get("/r//abc", headers={"Host": "evil.example"})
    assert response.status_code == 400 and "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)
    assert client.get("/register", headers={"Host": "localhost"}).status_code == 400  # base URL is not local


def test_merged_slashes_redirect_to_the_base_url(client):
    response = client.get(BASE + "/r//abc?x=1")
    assert response.status_code == 308 and response.headers["Location"] == BASE + "/r/abc?x=1"


def test_a_local_base_url_answers_the_loopback_names_only(web_settings, engine, session):
    client = create_app(web_settings.replace(base_url="http://127.0.0.1:5000"), engine).test_client()
    for host in ("127.0.0.1:5000", "localhost:5000"):
        response = client.get("/r//abc", headers={"Host": host})
        assert response.status_code == 308 and response.headers["Location"] == "http://127.0.0.1:5000/r/abc"
    assert client.get("/r//abc", headers={"Host": "evil.example"}).status_code == 400
    assert "Strict-Transport-Security" not in client.get("/healthz").headers  # http: no HSTS


def test_hsts_when_the_base_url_is_https(client):
    for path in ("/register", "/healthz", "/nothing-here", "/static/style.css"):
        assert client.get(BASE + path).headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
