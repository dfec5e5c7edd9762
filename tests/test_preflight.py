"""The preflight: every rule has a failing fixture in tests/data/campaigns/, the real campaigns pass."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from delivery_support import record_as_sent
from sqlmodel import select as sqlselect

from gll_mail.campaigns import preflight
from gll_mail.campaigns.audience import audience_breakdown
from gll_mail.campaigns.preflight import check
from gll_mail.campaigns.records import sync_campaign
from gll_mail.campaigns.sources import load_source
from gll_mail.demo.data import seed_catalog, seed_members
from gll_mail.models import (
    Resource,
    Subscriber,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "data" / "campaigns"
ORIGINAL = REPO / "campaigns" / "2019-06-compassion-reports.md"
CORRIGENDUM = REPO / "campaigns" / "2019-06-18-corrigendum.md"


@pytest.fixture
def db(session, settings):
    seed_catalog(session, settings.resources_dir)
    seed_members(session, 40)
    return session


def send(session, source_path: Path):
    """What the delivery engine does, in short: sync, enqueue with INSERT … SELECT, and mark sent."""
    campaign = sync_campaign(session, load_source(source_path))
    record_as_sent(session, campaign)
    return campaign


def run(settings, session, name: str, **kwargs):
    return check(settings, session, load_source(FIXTURES / name), **kwargs)


def messages(report) -> str:
    return "\n".join(str(p) for p in report.errors)


def test_the_real_campaigns_pass_with_every_link_live(db, settings):
    report = check(settings, db, load_source(ORIGINAL))
    assert report.ok, messages(report)
    assert report.warnings == [] and report.audience == 40
    send(db, ORIGINAL)
    report = check(settings, db, load_source(CORRIGENDUM))
    assert report.ok, messages(report)
    assert report.audience == 40
    for language, hrefs in report.links.items():
        assert "resource:codevelopment-synthesis-report" in hrefs, language
        assert {"resource:compassion-scoping-report", "resource:compassion-tools", "pod:compassion", "manage:"} <= set(
            hrefs
        ), language


def test_the_corrigendum_as_the_gll_sent_it_fails(db, settings):
    send(db, ORIGINAL)
    report = run(settings, db, "seed-as-sent.md")
    assert not report.ok
    stray = [p for p in report.errors if "stray `[`" in p.message]
    assert len(stray) >= 4  # every lost link is listed, with its line
    lines = (FIXTURES / "seed-as-sent.md").read_text(encoding="utf-8").split("\n")
    for problem in stray:
        assert "[" in lines[problem.line - 1]
    assert any("country experiences [ on compassion" in (p.link_text or "") for p in stray)
    assert any("promises a link" in p.message for p in report.warnings)  # "… register here:" with no link


@pytest.mark.parametrize(
    "name, expected, line",
    [
        ("unknown-resource.md", "resource:no-such-report names no resource", 10),
        ("unknown-pod.md", "pod:dance names no learning pod", 10),
        ("empty-link.md", "empty link", 10),
        ("malformed-link.md", "malformed link 'htps//www.who.int/report'", 10),
        ("javascript-link.md", "javascript: links are not allowed", 10),
        ("stray-bracket.md", "a stray `[`", 13),
        ("stray-close.md", "a stray `]`", 10),
        ("broken-marker.md", "unresolved link marker `](`", 10),
        ("leftover-braces.md", "leftover `{{`", 10),
        ("todo.md", "`TODO`", 10),
        ("empty-subject.md", "the subject is empty", 3),
        ("long-subject.md", "the subject is too long", 3),
        ("empty-audience.md", "the audience is empty", 4),
        ("no-audience.md", "the audience is not set", 2),
        ("orphan-corrigendum.md", "original campaign 'no-such-campaign' does not exist", 3),
        ("render-fails.md", "rendering fails in en", None),
        ("raw-html.md", 'raw HTML `<a href="javascript:alert(1)">`', 10),
        (
            "misspelt-slugs.md",
            "resource:compassion-tool names no resource; did you mean resource:compassion-tools?",
            10,
        ),
        ("unknown-variable.md", "`salutaton` is not a variable here; did you mean salutation?", 8),
        ("unknown-layout.md", "does not exist (layouts: announcement, corrigendum, event, report-release)", 3),
    ],
)
def test_each_rule_refuses_its_fixture(db, settings, name, expected, line):
    report = run(settings, db, name)
    assert not report.ok
    matching = [p for p in report.errors if expected in p.message]
    assert matching, messages(report)
    assert matching[0].line == line
    assert matching[0].file.name == name


def test_link_text_is_named(db, settings):
    report = run(settings, db, "unknown-resource.md")
    assert report.errors[0].link_text == "missing report"
    assert str(report.errors[0]).endswith("names no resource (see `gll-mail resources list`) (link “missing report”)")


def test_variant_lacking_a_link(db, settings):
    report = run(settings, db, "variant-missing-link.md")
    problems = [p for p in report.errors if "lacks the link" in p.message]
    assert len(problems) == 1
    assert problems[0].file.name == "variant-missing-link.fr.md"
    assert "resource:compassion-tools" in problems[0].message and problems[0].link_text == "tools"
    assert run(settings, db, "good.md").ok


def test_corrigendum_of_an_unsent_campaign(db, settings):
    fixtures = settings.replace(campaigns_dir=FIXTURES)
    sync_campaign(db, load_source(FIXTURES / "good.md"))
    report = check(fixtures, db, load_source(FIXTURES / "unsent-corrigendum.md"))
    assert any("'good' was never sent" in p.message for p in report.errors), messages(report)


def test_unreachable_recipients_of_the_original_are_reported(db, settings):
    send(db, ORIGINAL)
    gone = list(db.exec(sqlselect(Subscriber).order_by(Subscriber.id).limit(2)))
    gone[0].status = "unsubscribed"
    gone[1].paused = True
    for s in gone:
        db.add(s)
    db.flush()
    from gll_mail.members.preferences import delete_account

    deleted = db.exec(sqlselect(Subscriber).order_by(Subscriber.id.desc())).first()
    delete_account(db, deleted, source="test")  # their delivery stays, without them
    report = check(settings, db, load_source(CORRIGENDUM))
    assert report.ok and report.audience == 37
    warning = [p for p in report.warnings if "can no longer be reached" in p.message]
    assert warning and "3 of the 40 recipients" in warning[0].message
    assert f"{gone[0].email} (unsubscribed)" in warning[0].message
    assert f"{gone[1].email} (paused)" in warning[0].message and "and 1 more" in warning[0].message


def test_missing_resource_file(db, settings):
    target = db.exec(sqlselect(Resource).where(Resource.slug == "codevelopment-synthesis-report")).one()
    (settings.resources_dir / target.file_path).unlink()
    report = run(settings, db, "good.md")
    assert any("which does not exist" in p.message and p.line == 10 for p in report.errors), messages(report)


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_HEAD(self):
        self.hits.append(self.path)
        self.send_response(200 if self.path.startswith("/ok") else 404)
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_check_urls_asks_resource_urls_and_caches(db, settings, http_server, tmp_path):
    preflight._url_cache.clear()
    db.add(Resource(slug="online-report", title="Online", url=f"{http_server}/missing/report.pdf", access="public"))
    db.add(Resource(slug="online-ok", title="Online", url=f"{http_server}/ok/report.pdf", access="public"))
    db.flush()
    (tmp_path / "urls.md").write_text(
        "---\nsubject: Online\naudience: {all: true}\n---\n\n[bad](resource:online-report), [good](resource:online-ok)"
        f" and [plain]({http_server}/ok/page).\n",
        encoding="utf-8",
    )
    source = load_source(tmp_path / "urls.md")
    assert check(settings, db, source).ok  # URLs are only asked with check_urls
    _Handler.hits.clear()
    report = check(settings, db, source, check_urls=True)
    assert [p.message for p in report.errors] == [
        f"resource:online-report points to {http_server}/missing/report.pdf, which answers HTTP 404"
    ]
    assert report.errors[0].line == 6 and report.errors[0].link_text == "bad"
    asked = list(_Handler.hits)
    check(settings, db, source, check_urls=True)
    assert _Handler.hits == asked  # answers are cached
    assert preflight.url_problem("http://127.0.0.1:9/nothing", timeout=0.5).startswith("does not answer")


def test_layout_without_unsubscribe_link(db, settings):
    layouts = settings.replace(templates_dir=FIXTURES / "layouts")
    report = check(layouts, db, load_source(FIXTURES / "no-unsubscribe.md"))
    assert any("lacks the unsubscribe link" in p.message for p in report.errors), messages(report)
    missing = check(settings, db, load_source(FIXTURES / "no-unsubscribe.md"))
    assert any("layout" in p.message and "does not exist" in p.message for p in missing.errors)


def test_warnings_do_not_block(db, settings):
    report = run(settings, db, "huge-and-image.md")
    assert report.ok, messages(report)
    text = "\n".join(p.message for p in report.warnings)
    assert "has no alt text" in text
    assert "Gmail clips messages over 102 KB" in text


def test_dkim_key_that_cannot_sign_blocks_and_a_foreign_domain_warns(db, settings, tmp_path):
    from gll_mail.smtp.dkim_setup import generate_key

    broken = settings.replace(
        dkim_key_file=str(tmp_path / "missing.pem"), dkim_selector="gll2026", dkim_domain="who.int"
    )
    report = check(broken, db, load_source(ORIGINAL))
    assert not report.ok and messages(report).startswith("DKIM: cannot read the DKIM key")

    generate_key(tmp_path / "dkim.pem", "gll2026", "gll.example.org")
    foreign = broken.replace(dkim_key_file=str(tmp_path / "dkim.pem"), dkim_domain="gll.example.org")
    report = check(foreign, db, load_source(ORIGINAL))
    assert report.ok, messages(report)
    assert [str(w) for w in report.warnings] == [
        f"{ORIGINAL}: DKIM signs as d=gll.example.org but the mail is from {settings.from_address}: "
        "DMARC will not count the signature"
    ]
    aligned = foreign.replace(dkim_domain="who.int")
    assert check(aligned, db, load_source(ORIGINAL)).warnings == []


def test_raw_html_is_refused_with_its_line_and_tag(db, settings):
    """The renderer shows raw HTML as text (never as markup): the preflight refuses it, so no member
    gets `<a href="…">` as words in the email."""
    report = run(settings, db, "raw-html.md")
    raw = [(p.line, p.message) for p in report.errors if "raw HTML" in p.message or "HTML comment" in p.message]
    assert [(line, message.split(":")[0]) for line, message in raw] == [
        (10, 'the text contains raw HTML `<a href="javascript'),
        (10, 'the text contains raw HTML `<a href="">`'),
        (12, "the text contains raw HTML `<script>`"),
        (14, "the text contains an HTML comment"),
    ]
    assert all("write Markdown instead ([text](https://…) for a link" in message for _, message in raw)
    assert len(report.errors) == len(raw), messages(report)  # `<b>` in code and the Markdown link are fine


def test_a_slug_that_does_not_match_is_reported_with_every_other_problem(db, settings):
    source = load_source(FIXTURES / "slug-mismatch.md", strict=False)
    assert source.slug == "slug-mismatch"  # read under its file's name
    report = check(settings, db, source)
    assert [(p.line, p.message.split(" (")[0]) for p in report.errors] == [
        (2, "slug 'another-name' must match the file name 'slug-mismatch.md'"),
        (11, "the text contains a stray `[`: a link whose target was lost"),
        (11, "resource:no-such-report names no resource"),
    ]


def test_unknown_personalization_is_named_at_its_line_with_the_nearest_name(db, settings):
    report = run(settings, db, "unknown-variable.md")
    found = [(p.line, p.message) for p in report.errors]
    assert (
        3,
        "`subscriber.nmae` is not a subscriber field; did you mean subscriber.name? "
        "(fields: name, email, language, public_id, pods, has_name)",
    ) in found  # in the subject
    assert (8, "`salutaton` is not a variable here; did you mean salutation?") in found
    assert (
        10,
        "`subscriber.podz` is not a subscriber field; did you mean subscriber.pods? "
        "(fields: name, email, language, public_id, pods, has_name)",
    ) in found
    assert (11, "`name` is not a variable here; did you mean subscriber.name?") in found
    assert (11, "`uppr` is not a Jinja filter; did you mean upper?") in found
    assert not any("loop" in message or "`pod`" in message for _, message in found)  # defined in the template
    assert len(found) == 5, messages(report)  # the failed render is not reported a second time
    report = run(settings, db, "render-fails.md")
    assert [p.line for p in report.errors if "subscriber.podz" in p.message and "did you mean" in p.message] == [10]


def test_a_missing_translation_warns_how_many_get_the_fallback(db, settings):
    report = run(settings, db, "good.md")  # English and French only
    assert report.ok, messages(report)
    by_language = audience_breakdown(db, {"topics": ["announcements"]}).by_language
    fallback = {code: n for code, n in by_language.items() if code not in ("en", "fr")}
    assert sum(fallback.values()) > 0 and "fr" in by_language
    names = {"ar": "Arabic", "es": "Spanish", "ru": "Russian", "zh": "Chinese"}
    listed = ", ".join(f"{names[code]}: {n}" for code, n in sorted(fallback.items()))
    assert [str(w) for w in report.warnings] == [
        f"{FIXTURES / 'good.md'}: no translation for {sum(fallback.values())} of the {report.audience} recipients: "
        f"they will get the English text ({listed})"
    ]
    assert check(settings, db, load_source(ORIGINAL)).warnings == []  # six languages: nobody falls back
