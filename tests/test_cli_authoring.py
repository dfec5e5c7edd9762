"""`gll-mail campaign check|preview|test|audience|translations` through Click, with a real database and SMTP server."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest
from delivery_support import record_as_sent

from gll_mail.cli import main
from gll_mail.db import session_scope
from gll_mail.demo.data import seed_catalog, seed_members
from gll_mail.models import Subscriber

FIXTURES = Path(__file__).resolve().parent / "data" / "campaigns"


@pytest.fixture
def seeded(engine, settings):
    with session_scope(engine) as session:
        seed_catalog(session, settings.resources_dir)
        seed_members(session, 30)
        member = session.get(Subscriber, 3)
        member.language, member.name = "ar", "Nadia <b>Benali</b>"
        session.add(member)
        return member.email


def test_check_passes_and_fails_with_exit_codes(runner, seeded):
    result = runner.invoke(main, ["campaign", "check", "2019-06-compassion-reports"])
    assert result.exit_code == 0, result.output
    assert "ready to send (ar, zh, en, fr, ru, es; 30 recipient(s)" in result.output
    result = runner.invoke(main, ["campaign", "check", str(FIXTURES / "seed-as-sent.md")])
    assert result.exit_code == 1
    assert "NOT ready to send" in result.output
    assert "seed-as-sent.md:16: the text contains a stray `[`" in result.output
    assert "country experiences [ on compassion" in result.output
    result = runner.invoke(main, ["campaign", "check", "no-such-campaign"])
    assert result.exit_code == 1 and "no campaign 'no-such-campaign'" in result.output


def test_check_lists_every_problem_with_its_line(runner, seeded, tmp_path):
    result = runner.invoke(main, ["campaign", "check", str(FIXTURES / "slug-mismatch.md")])
    assert result.exit_code == 1
    assert "slug-mismatch.md:2: slug 'another-name' must match the file name 'slug-mismatch.md'" in result.output
    assert "slug-mismatch.md:11: the text contains a stray `[`" in result.output  # reported with the slug
    assert "slug-mismatch: NOT ready to send: 3 error(s), 1 warning(s)." in result.output
    assert "slug-mismatch.md: no translation for 19 of the 30 recipients" in " ".join(result.output.split())
    result = runner.invoke(main, ["campaign", "check", str(FIXTURES / "raw-html.md")])
    assert result.exit_code == 1 and "raw-html.md:12: the text contains raw HTML `<script>`" in result.output
    result = runner.invoke(main, ["campaign", "check", str(FIXTURES / "misspelt-slugs.md")])
    assert "misspelt-slugs.md:10: pod:compasion names no learning pod; did you mean pod:compassion?" in result.output
    result = runner.invoke(main, ["campaign", "check", str(FIXTURES / "unknown-variable.md")])
    assert "unknown-variable.md:8: `salutaton` is not a variable here; did you mean salutation?" in result.output
    result = runner.invoke(main, ["campaign", "check", str(FIXTURES / "unknown-layout.md")])
    assert "(layouts: announcement, corrigendum, event, report-release)" in result.output
    (tmp_path / "unclosed.md").write_text(
        "---\nsubject: x\naudience: [announcements\nkind: event\n---\nHi\n", encoding="utf-8"
    )
    result = runner.invoke(main, ["campaign", "check", str(tmp_path / "unclosed.md")])
    assert result.exit_code == 1 and "unclosed.md:3: front matter is not valid YAML" in result.output


def test_preview_html_text_lang_and_as(runner, seeded, tmp_path):
    out = tmp_path / "preview.html"
    result = runner.invoke(
        main, ["campaign", "preview", "2019-06-compassion-reports", "--lang", "fr", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert '<html lang="fr" dir="ltr"' in html and "Se désabonner" in html
    result = runner.invoke(main, ["campaign", "preview", "2019-06-compassion-reports", "--as", seeded, "--text"])
    assert result.exit_code == 0, result.output
    assert "عزيزي/عزيزتي Nadia <b>Benali</b>،" in result.output  # the subscriber's own language and name
    assert "إلغاء الاشتراك: https://gll.example.org/u/" in result.output
    result = runner.invoke(main, ["campaign", "preview", "2019-06-compassion-reports", "--as", "nobody@example.org"])
    assert result.exit_code == 1 and "no subscriber" in result.output


def test_test_sends_real_marked_messages(runner, seeded, smtp_server, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_SMTP_URL", smtp_server.url)
    result = runner.invoke(
        main, ["campaign", "test", "2019-06-compassion-reports", "--to", "reviewer@who.int", "--to", seeded]
    )
    assert result.exit_code == 0, result.output
    received = smtp_server.received
    assert [r.rcpt_tos for r in received] == [("reviewer@who.int",), (seeded,)]
    first = message_from_bytes(received[0].data, policy=policy.default)
    assert first["Subject"] == "[Test] WHO GLL releases reports on compassion – the heart of quality health services"
    assert first.get_content_type() == "multipart/alternative"
    html = first.get_body(("html",)).get_content()
    text = first.get_body(("plain",)).get_content()
    assert "https://gll.example.org/r/" in html and "Unsubscribe: https://gll.example.org/u/" in text
    second = message_from_bytes(received[1].data, policy=policy.default)
    assert second["Subject"].startswith("[تجربة] مختبر التعلّم العالمي")
    assert "Nadia &lt;b&gt;Benali&lt;/b&gt;" in second.get_body(("html",)).get_content()


def test_a_test_send_is_the_members_message_signed_and_all(runner, seeded, smtp_server, monkeypatch, tmp_path):
    """What the team checks in their inbox is what members get: bulk-sender headers, one-click
    unsubscribe, VERP sender, a DKIM signature that verifies; each proof with its own Message-ID."""
    import dkim

    from gll_mail.smtp.dkim_setup import generate_key

    signer = generate_key(tmp_path / "dkim.pem", "gll2026", "who.int")
    record = signer.public_dns_record().encode()
    for name, value in {
        "SMTP_URL": smtp_server.url,
        "DKIM_KEY_FILE": str(tmp_path / "dkim.pem"),
        "DKIM_SELECTOR": "gll2026",
        "DKIM_DOMAIN": "who.int",
    }.items():
        monkeypatch.setenv("GLL_MAIL_" + name, value)
    for _ in range(2):
        result = runner.invoke(main, ["campaign", "test", "2019-06-compassion-reports", "--to", seeded])
        assert result.exit_code == 0, result.output
    first, second = smtp_server.received
    assert first.mail_from.startswith("bounces+") and first.rcpt_tos == (seeded,)
    assert dkim.verify(
        first.data, dnsfunc=lambda name, timeout=5: record if name == b"gll2026._domainkey.who.int." else None
    )
    message = message_from_bytes(first.data, policy=policy.default)
    assert message["Subject"].startswith("[تجربة] ")  # the seeded member reads Arabic
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://gll.example.org/u/" in str(message["List-Unsubscribe"])
    assert message["Feedback-ID"] and message["List-Id"]
    assert message["Message-ID"] != message_from_bytes(second.data, policy=policy.default)["Message-ID"]


def test_test_refuses_a_broken_campaign_unless_forced(runner, seeded, smtp_server, monkeypatch):
    monkeypatch.setenv("GLL_MAIL_SMTP_URL", smtp_server.url)
    result = runner.invoke(main, ["campaign", "test", str(FIXTURES / "todo.md"), "--to", "reviewer@who.int"])
    assert result.exit_code == 1 and "Not sending tests" in result.output
    assert smtp_server.received == []
    result = runner.invoke(main, ["campaign", "test", str(FIXTURES / "todo.md"), "--to", "reviewer@who.int", "--force"])
    assert result.exit_code == 0 and len(smtp_server.received) == 1


def test_audience_by_language_and_pod(runner, seeded):
    result = runner.invoke(main, ["campaign", "audience", "2019-06-compassion-reports"])
    assert result.exit_code == 0, result.output
    assert "2019-06-compassion-reports: 30 recipient(s) (topics: announcements)" in result.output
    assert "By language" in result.output and "ar (Arabic)" in result.output
    assert "By learning pod" in result.output and "compassion" in result.output


def test_audience_of_a_corrigendum_reports_unreachable(runner, seeded, engine):

    from gll_mail.campaigns.records import sync_campaign
    from gll_mail.campaigns.sources import load_source

    with session_scope(engine) as session:
        original = sync_campaign(
            session, load_source(Path(__file__).resolve().parent.parent / "campaigns" / "2019-06-compassion-reports.md")
        )
        record_as_sent(session, original)
        member = session.get(Subscriber, 5)
        member.status = "bounced"
        session.add(member)
        gone = member.email
    result = runner.invoke(main, ["campaign", "audience", "2019-06-18-corrigendum"])
    assert result.exit_code == 0, result.output
    assert "29 recipient(s) (recipients_of: 2019-06-compassion-reports)" in result.output
    assert "was sent to 30; 1 of them can no longer be reached" in result.output
    assert f"{gone} (bounced)" in result.output


def test_translations_lists_each_language_marks_one_and_check_shows_the_diff(
    runner, session, settings, tmp_path, monkeypatch
):
    from team_support import AR, EN, SLUG, team, write_campaign
    from team_support import seed_catalog as seed_team_catalog
    from web_support import add_member

    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    monkeypatch.setenv("GLL_MAIL_CAMPAIGNS_DIR", str(campaigns))
    local = settings.replace(campaigns_dir=campaigns)
    seed_team_catalog(session, local)
    team(session)
    for n, language in enumerate(["ar", "ar", "fr", "en"]):
        add_member(session, f"m{n}@example.org", language=language)
    en = EN.replace("  topics: [announcements]", "  all: true")
    write_campaign(local, en, AR)
    out = runner.invoke(main, ["campaign", "translations", SLUG])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == f"{SLUG}: en (English) is the source: 1 recipient(s)"
    assert "  ar (Arabic): unmarked: it does not say which English text it translates; 2 recipient(s)" in lines
    assert "  fr (French): missing: these recipients get the English text; 1 recipient(s)" in lines

    out = runner.invoke(main, ["campaign", "translations", SLUG, "--mark", "ar"])
    assert out.exit_code == 1 and "--mark needs --as USER" in out.output
    out = runner.invoke(main, ["campaign", "translations", SLUG, "--mark", "ar", "--as", "vic"])
    assert out.exit_code == 1 and "viewer" in out.output
    out = runner.invoke(main, ["campaign", "translations", SLUG, "--mark", "ar", "--as", "eve"])
    assert out.exit_code == 0 and "ar translates English text " in out.output
    assert "translation_of:" in (campaigns / f"{SLUG}.ar.md").read_text(encoding="utf-8")
    out = runner.invoke(main, ["campaign", "translations", SLUG])
    assert "  ar (Arabic): up to date (English text " in out.output

    (campaigns / f"{SLUG}.md").write_text(en.replace("Dear member,", "Dear colleague,"), encoding="utf-8")
    out = runner.invoke(main, ["campaign", "translations", SLUG])
    assert "  ar (Arabic): stale: the English text changed in line 9 (since revision " in out.output
    assert "-Dear member, read the" in out.output and "+Dear colleague, read the" in out.output
    out = runner.invoke(main, ["campaign", "check", SLUG])
    assert out.exit_code == 0, out.output
    assert f"warning {campaigns / SLUG}.ar.md:3: ar is stale: the English text changed in line 9" in out.output
    assert "+Dear colleague, read the" in out.output
    out = runner.invoke(main, ["campaign", "check", SLUG], env={"GLL_MAIL_ENV": "production"})
    assert out.exit_code == 1 and "production refuses stale translations" in out.output
