"""Admin account creation and the report page behind a login."""

from __future__ import annotations

from gll_mail.cli import main
from gll_mail.web import create_app
from test_reports import seed_campaign


def test_admin_report_behind_login(runner, settings, engine, session):
    seed_campaign(session)
    out = runner.invoke(main, ["admin", "create", "lead"], input="correct horse battery\ncorrect horse battery\n")
    assert out.exit_code == 0, out.output
    client = create_app(settings, engine).test_client()
    r = client.get("/admin/campaigns/nov-news")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    r = client.post("/admin/login?next=/admin/campaigns/nov-news", data={"username": "lead", "password": "nope"})
    assert r.status_code == 401
    r = client.post("/admin/login?next=/admin/campaigns/nov-news",
                    data={"username": "lead", "password": "correct horse battery"})
    assert r.status_code == 302
    r = client.get("/admin/campaigns/nov-news")
    assert r.status_code == 200 and b"<svg" in r.data
    assert client.get("/admin/campaigns/missing").status_code == 404
