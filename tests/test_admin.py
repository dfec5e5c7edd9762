"""Team accounts (CLI) and the /admin pages: sign-in with CSRF and a rate limit, sessions, reports."""

from __future__ import annotations

import pytest
from test_reports import seed_campaign
from web_support import csrf

from gll_mail.cli import main
from gll_mail.errors import GllMailError
from gll_mail.team.accounts import authenticate, campaign_overview, create_admin
from gll_mail.web import create_app

PASSWORD = "correct horse battery"


@pytest.fixture
def admin_client(settings, engine, session):
    seed_campaign(session)
    create_admin(session, "lead", PASSWORD)
    session.commit()
    return create_app(settings, engine).test_client()


def sign_in(client, password=PASSWORD, next_="/admin/campaigns/nov-news", username="lead"):
    token = csrf(client.get("/admin/login"))
    return client.post(
        f"/admin/login?next={next_}", data={"username": username, "password": password, "csrf_token": token}
    )


def test_cli_creates_lists_changes_and_deletes_admins(runner, session):
    out = runner.invoke(main, ["admin", "create", "lead"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert out.exit_code == 0, out.output
    assert "Sign in at https://gll.example.org/admin/" in out.output  # GLL_MAIL_BASE_URL, not :5000
    out = runner.invoke(main, ["admin", "create", "lead"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert out.exit_code != 0 and "exists already" in out.output
    out = runner.invoke(main, ["admin", "create", "shorty"], input="short\nshort\n")
    assert out.exit_code != 0 and "at least 12 characters" in out.output and "Traceback" not in out.output
    assert "lead\tcreated" in runner.invoke(main, ["admin", "list"]).output
    out = runner.invoke(main, ["admin", "password", "lead"], input="another long secret\nanother long secret\n")
    assert out.exit_code == 0, out.output
    session.expire_all()
    assert authenticate(session, "lead", PASSWORD) is None
    assert authenticate(session, "lead", "another long secret") is not None
    assert runner.invoke(main, ["admin", "delete", "lead", "--yes"]).exit_code == 0
    assert "No admin accounts" in runner.invoke(main, ["admin", "list"]).output
    assert runner.invoke(main, ["admin", "delete", "ghost", "--yes"]).exit_code != 0


def test_report_is_behind_the_sign_in(admin_client):
    r = admin_client.get("/admin/campaigns/nov-news")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    assert sign_in(admin_client, password="nope").status_code == 401
    r = sign_in(admin_client)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/campaigns/nov-news"
    r = admin_client.get("/admin/campaigns/nov-news")
    assert r.status_code == 200 and b"<svg" in r.data
    assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'none': no scripts at all
    assert r.headers["X-Frame-Options"] == "DENY" and "no-store" in r.headers["Cache-Control"]
    assert admin_client.get("/admin/campaigns/missing").status_code == 404


def test_campaign_list_links_to_reports(admin_client, session):
    sign_in(admin_client)
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "GLL November" in page and 'href="/admin/campaigns/nov-news"' in page
    rows = campaign_overview(session)
    assert [r.slug for r in rows] == ["nov-news"] and rows[0].deliveries == 10
    assert f"{rows[0].sent} / 10" in page


def test_sign_in_needs_the_csrf_token(admin_client):
    admin_client.get("/admin/login")
    r = admin_client.post("/admin/login", data={"username": "lead", "password": PASSWORD})
    assert r.status_code == 403
    assert admin_client.get("/admin/").status_code == 302  # not signed in


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/admin/",
        "/admin/\\evil",
        "/admin//evil.example",
        "javascript:alert(1)",
        "/r/abc",
        "/admin/\x00",
        "/admin/\x7f",
    ],
)
def test_next_never_leaves_admin(admin_client, target):
    r = sign_in(admin_client, next_=target)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"


def test_failed_sign_ins_are_limited_per_address_across_web_processes(settings, engine, session):
    create_admin(session, "lead", PASSWORD)
    session.commit()
    limited = settings.replace(admin_login_rate_limit=3)
    client = create_app(limited, engine).test_client()
    assert sign_in(client).status_code == 302  # a success does not count
    for _ in range(3):
        assert sign_in(client, password="wrong guess").status_code == 401
    r = sign_in(client)  # even the right password waits: no guessing oracle
    assert r.status_code == 429 and "Too many failed sign-ins" in r.get_data(as_text=True)
    other = create_app(limited, engine).test_client()  # another gunicorn worker, or another machine
    assert sign_in(other).status_code == 429
    elsewhere = create_app(limited, engine).test_client()
    r = elsewhere.post(
        "/admin/login",
        data={"username": "lead", "password": PASSWORD, "csrf_token": csrf(elsewhere.get("/admin/login"))},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert r.status_code == 302  # another client address has its own allowance


@pytest.mark.parametrize("any_engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_guesses_sent_at_once_do_not_slip_under_the_limit(settings, any_engine):
    """Twelve wrong passwords at the same moment, to two web processes: only three are checked."""
    import threading

    from sqlmodel import Session

    with Session(any_engine) as session:
        create_admin(session, "lead", PASSWORD)
        session.commit()
    limited = settings.replace(
        admin_login_rate_limit=3, database_url=any_engine.url.render_as_string(hide_password=False)
    )
    apps = [create_app(limited, any_engine) for _ in range(2)]
    statuses, barrier = [], threading.Barrier(12)

    def guess(n: int) -> None:
        client = apps[n % 2].test_client()
        token = csrf(client.get("/admin/login"))
        barrier.wait()
        statuses.append(
            client.post(
                "/admin/login", data={"username": "lead", "password": f"guess {n}", "csrf_token": token}
            ).status_code
        )

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [401] * 3 + [429] * 9


def test_a_password_change_or_deletion_ends_open_sessions(admin_client, session):
    from gll_mail.team.accounts import delete_admin, set_password

    sign_in(admin_client)
    assert admin_client.get("/admin/").status_code == 200
    set_password(session, "lead", "a brand new passphrase")
    session.commit()
    assert admin_client.get("/admin/").status_code == 302
    sign_in(admin_client, password="a brand new passphrase")
    assert admin_client.get("/admin/").status_code == 200
    delete_admin(session, "lead")
    session.commit()
    assert admin_client.get("/admin/").status_code == 302


def test_sign_out_is_a_post_with_csrf(admin_client):
    sign_in(admin_client)
    page = admin_client.get("/admin/")
    assert admin_client.get("/admin/logout").status_code == 405  # GET never changes state
    assert admin_client.post("/admin/logout").status_code == 403
    assert admin_client.post("/admin/logout", data={"csrf_token": csrf(page)}).status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_a_copied_cookie_dies_with_the_sign_out_and_after_a_working_day(admin_client, session, monkeypatch):
    """The session cookie is signed, not stored: signing out ends every session of the account, and
    no sign-in outlives SESSION_HOURS however often it is refreshed."""
    import time

    from gll_mail.web import admin as admin_web

    sign_in(admin_client)
    page = admin_client.get("/admin/")
    copied = admin_client.get_cookie("gll_session", domain="gll.example.org").value
    app = admin_client.application
    content = app.session_interface.get_signing_serializer(app).loads(copied)  # signed, readable by anyone
    from sqlmodel import select

    from gll_mail.models import AdminUser

    password_hash = session.exec(select(AdminUser)).one().password_hash
    assert content["admin_stamp"] not in password_hash  # nothing of the password hash in the cookie
    admin_client.post("/admin/logout", data={"csrf_token": csrf(page)})
    admin_client.set_cookie(
        "gll_session", copied, domain="gll.example.org"
    )  # a stolen copy, replayed after the sign-out
    assert admin_client.get("/admin/").status_code == 302

    sign_in(admin_client)
    assert admin_client.get("/admin/").status_code == 200
    later = time.time() + admin_web.SESSION_HOURS * 3600 + 1
    monkeypatch.setattr(admin_web.time, "time", lambda: later)
    assert admin_client.get("/admin/").status_code == 302


def test_usernames_are_checked():
    with pytest.raises(GllMailError):
        create_admin(None, " ", PASSWORD)  # type: ignore[arg-type] - fails before touching the session
