"""Rendering: six languages (Arabic right-to-left), tokenized links, escaping, one MJML compile per language."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gll_mail import links
from gll_mail.campaigns import render
from gll_mail.campaigns.markdown import classify_link
from gll_mail.campaigns.records import sync_campaign
from gll_mail.campaigns.render import (
    CampaignRenderer,
    Recipient,
    RenderError,
    recipient_for,
)
from gll_mail.campaigns.sources import load_source
from gll_mail.demo.data import seed_catalog
from gll_mail.i18n import translator
from gll_mail.languages import LANGUAGES
from gll_mail.models import Subscriber
from gll_mail.tokens import read_token

REPO = Path(__file__).resolve().parent.parent
ORIGINAL = REPO / "campaigns" / "2019-06-compassion-reports.md"
CORRIGENDUM = REPO / "campaigns" / "2019-06-18-corrigendum.md"
PUBLIC_ID = "Zx81_kq-PUBLICid0000000"


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.html_attrs: dict = {}
        self.tables: list[dict] = []
        self.imgs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.hrefs.append(attrs.get("href"))
        elif tag == "html":
            self.html_attrs = attrs
        elif tag == "table":
            self.tables.append(attrs)
        elif tag == "img":
            self.imgs.append(attrs)


def parse(html: str) -> Anchors:
    parser = Anchors()
    parser.feed(html)
    return parser


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Signed links carry the second they were made: freeze it so two renders compare equal."""
    monkeypatch.setattr("time.time", lambda: 1_750_000_000.25)


@pytest.fixture
def catalog(session, settings):
    seed_catalog(session, settings.resources_dir)
    return session


@pytest.fixture
def renderer(catalog, settings):
    source = load_source(ORIGINAL)
    campaign = sync_campaign(catalog, source)
    return CampaignRenderer(settings, catalog, source, campaign)


def recipient(language="en", name="Amina Haddad", pods=()):
    return Recipient(PUBLIC_ID, "amina@example.org", name, language, tuple(pods))


def test_every_language_renders_with_lang_and_direction(renderer):
    assert sorted(renderer.variants) == sorted(LANGUAGES)
    for code in LANGUAGES:
        message = renderer.render(recipient(code))
        assert message.language == code
        page = parse(message.html)
        tag = "zh-Hans" if code == "zh" else code  # our Chinese is simplified: marked so for fonts and readers
        assert page.html_attrs["lang"] == tag
        assert page.html_attrs["dir"] == ("rtl" if code == "ar" else "ltr")
        assert f'<div class="gll-body" dir="{"rtl" if code == "ar" else "ltr"}" lang="{tag}">' in message.html
        assert message.subject == renderer.source.variants[code].subject
        t = translator(code)
        assert t.pgettext("email", "Unsubscribe") in message.html and t.pgettext("email", "Unsubscribe") in message.text
        assert t.gettext("The GLL Team") in message.html
        assert renderer.source.variants[code].subject in message.html
    arabic = renderer.render(recipient("ar"))
    assert "مختبر التعلّم العالمي" in arabic.html
    assert "text-align:right" in arabic.html


def test_unknown_language_falls_back_to_english(renderer):
    message = renderer.render(recipient("de"))
    assert message.language == "en"
    assert "Dear Amina Haddad," in message.text


def test_links_are_the_recipients_signed_links(renderer, settings):
    message = renderer.render(recipient("fr"))
    campaign_id = renderer.campaign.id
    hrefs = set(parse(message.html).hrefs)
    expected = {
        links.gate_url(settings, PUBLIC_ID, "codevelopment-synthesis-report", campaign_id),
        links.gate_url(settings, PUBLIC_ID, "compassion-scoping-report", campaign_id),
        links.gate_url(settings, PUBLIC_ID, "compassion-tools", campaign_id),
        links.join_pod_url(settings, PUBLIC_ID, "compassion", campaign_id=campaign_id),
        links.manage_url(settings, PUBLIC_ID, campaign_id, language="fr"),  # even a deleted account's page
        links.unsubscribe_url(settings, PUBLIC_ID, campaign_id, language="fr"),  # answers in French
        links.archive_url(settings, PUBLIC_ID, renderer.source.slug),
        "https://www.who.int/health-topics/neglected-tropical-diseases",
        "https://www.who.int/servicedeliverysafety/areas/qhc/gll/en/",
        "mailto:GLL4QUHC@who.int",
    }
    assert expected <= hrefs
    for url in expected:
        assert url.removeprefix("mailto:") in message.text
    gate = [h for h in hrefs if "/r/" in h]
    data = read_token(settings, "gate", gate[0].rsplit("/", 1)[1])
    assert data.subject == PUBLIC_ID and data.extra["c"] == campaign_id
    manage = [h for h in hrefs if "/m/" in h]  # an unsubscribe on the manage page counts for this campaign
    assert manage and read_token(settings, "manage", manage[0].rsplit("/", 1)[1]).extra["c"] == campaign_id
    assert not any(h.startswith(("resource:", "pod:", "manage:", "archive:")) for h in hrefs)
    assert "{{" not in message.html and "{%" not in message.html and "{{" not in message.text


def test_minted_tokens_equal_the_links_module(settings):
    minter = links.CampaignLinks(settings.replace(secret_keys=("new-key-" * 5, "old-key-" * 5)), 42, "camp")
    other = settings.replace(secret_keys=("new-key-" * 5, "old-key-" * 5))
    for public_id in (PUBLIC_ID, 'odd "id" é/'):
        urls = minter.urls(("resource:r1", "pod:p1", "manage", "unsubscribe", "archive"), public_id)
        assert urls["resource:r1"] == links.gate_url(other, public_id, "r1", 42)
        assert urls["pod:p1"] == links.join_pod_url(other, public_id, "p1", campaign_id=42)
        assert urls["manage"] == links.manage_url(other, public_id, 42)
        assert urls["unsubscribe"] == links.unsubscribe_url(other, public_id, 42)
        assert urls["archive"] == links.archive_url(other, public_id, "camp")


def test_personalization_is_escaped(renderer):
    message = renderer.render(recipient("en", name="<script>alert(1)</script>"))
    assert "<script>alert(1)</script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "Dear <script>alert(1)</script>," in message.text  # the text part is not HTML


def test_no_name_gets_dear_colleague_in_every_language(renderer):
    for code in LANGUAGES:
        message = renderer.render(recipient(code, name=""))
        salutation = translator(code).gettext("Dear Colleague,")
        assert salutation in message.text
        assert str(__import__("markupsafe").escape(salutation)) in message.html


def test_mjml_is_compiled_once_per_language_never_per_recipient(catalog, settings, monkeypatch):
    calls = []
    real = render.mjml.mjml2html

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(render.mjml, "mjml2html", counting)
    source = load_source(ORIGINAL)
    renderer = CampaignRenderer(settings, catalog, source, sync_campaign(catalog, source))
    assert len(calls) == 6
    for i in range(300):
        renderer.render(Recipient(f"id{i:06d}", f"m{i}@example.org", f"Member {i}", list(LANGUAGES)[i % 6]))
    assert len(calls) == 6


def test_a_preview_compiles_only_its_language_and_renders_the_same(catalog, settings, monkeypatch):
    source = load_source(ORIGINAL)
    campaign = sync_campaign(catalog, source)
    full = CampaignRenderer(settings, catalog, source, campaign)
    calls = []
    real = render.mjml.mjml2html
    monkeypatch.setattr(render.mjml, "mjml2html", lambda *a, **k: calls.append(1) or real(*a, **k))
    one = CampaignRenderer(settings, catalog, source, campaign, languages=("ar",))
    assert list(one.variants) == ["ar"] and len(calls) == 1
    assert one.render(recipient("ar")).html == full.render(recipient("ar")).html


def test_no_database_query_per_recipient(catalog, settings, engine):
    from sqlalchemy import event

    source = load_source(ORIGINAL)
    renderer = CampaignRenderer(settings, catalog, source, sync_campaign(catalog, source))
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for i in range(50):
            renderer.render(recipient(list(LANGUAGES)[i % 6]))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == []


def test_accessible_and_private_layout(renderer):
    message = renderer.render(recipient("en"))
    page = parse(message.html)
    assert page.tables and all(t.get("role") == "presentation" for t in page.tables)
    assert all(img.get("alt") for img in page.imgs)
    assert "fonts.googleapis" not in message.html and "@import" not in message.html
    assert "<link" not in message.html  # no remote stylesheet or font
    # the only hidden content is the preheader, as the inbox preview (mj-preview), before anything else
    hidden = re.findall(r'<div style="display:none;[^"]*">([^<]*)</div>', message.html)
    assert message.preheader and hidden == [message.preheader]
    assert message.html.replace(" ", "").count("display:none") == 1
    assert message.html.index(message.preheader) < message.html.index("View this email in your browser")
    # footer: the GLL signature, unsubscribe and manage links, the postal/contact line
    assert "The GLL Team" in message.html and "Sharing knowledge and experiences" in message.html
    assert renderer.settings.postal_address in message.html and renderer.settings.postal_address in message.text


def test_plain_text_part_from_the_same_content(renderer):
    text = renderer.render(recipient("en")).text
    assert "WHO GLL releases reports on compassion" in text
    assert "- Capture various country experiences <https://gll.example.org/p/" in text
    assert "neglected tropical diseases <https://www.who.int/health-topics/neglected-tropical-diseases>" in text
    assert "Unsubscribe: https://gll.example.org/u/" in text
    assert "<a " not in text and "<p>" not in text


def test_subject_and_body_personalization(catalog, settings, tmp_path):
    (tmp_path / "hello.md").write_text(
        '---\nkind: event\nsubject: "{{ subscriber.name }}, join our webinar"\naudience: {all: true}\n---\n\n'
        "{% if 'compassion' in subscriber.pods %}As a member of the compassion pod, {% endif %}"
        "welcome, **{{ subscriber.name }}** ({{ language }}).\n",
        encoding="utf-8",
    )
    source = load_source(tmp_path / "hello.md")
    renderer = CampaignRenderer(settings, catalog, source, None)
    member = renderer.render(recipient("en", name="Wei <Zhang>", pods=["compassion"]))
    assert member.subject == "Wei <Zhang>, join our webinar"
    assert "Wei &lt;Zhang&gt;, join our webinar" in member.html
    assert "As a member of the compassion pod, welcome, <strong>Wei &lt;Zhang&gt;</strong> (en)." in member.html
    nobody = renderer.render(recipient("fr", name=""))
    assert nobody.subject == "Colleague, join our webinar"  # no French variant: English, with its default
    assert "welcome, **Colleague** (en)." in nobody.text or "welcome, Colleague (en)." in nobody.text


def test_corrigendum_banner_prefix_and_layout(catalog, settings):
    original = sync_campaign(catalog, load_source(ORIGINAL))
    from gll_mail.models import utcnow

    original.status = "sent"
    original.started_at = utcnow().replace(year=2019, month=6, day=14)
    catalog.add(original)
    catalog.flush()
    source = load_source(CORRIGENDUM)
    renderer = CampaignRenderer(settings, catalog, source, sync_campaign(catalog, source))
    en = renderer.render(recipient("en"))
    assert en.subject.startswith("Corrigendum: WHO GLL releases reports")
    assert (
        "This corrigendum corrects the email “WHO GLL releases reports on compassion – the heart of quality "
        "health services” sent on 14 June 2019." in en.html
    )
    fr = renderer.render(recipient("fr"))
    assert fr.subject.startswith("Rectificatif : ")
    assert "envoyé le 14 juin 2019" in fr.html
    zh = renderer.render(recipient("zh"))
    assert "2019年6月14日" in zh.html


def test_corrigendum_subject_prefix_added_when_missing(catalog, settings, tmp_path):
    (tmp_path / "fix.md").write_text(
        "---\nkind: corrigendum\ncorrects: 2019-06-compassion-reports\n"
        "subject: The report link\n---\n\nThe [report](resource:compassion-tools).\n",
        encoding="utf-8",
    )
    source = load_source(tmp_path / "fix.md")
    renderer = CampaignRenderer(settings, catalog, source, None)
    assert renderer.render(recipient()).subject == "Corrigendum: The report link"
    assert source.audience == {"recipients_of": "2019-06-compassion-reports"}


def test_a_corrigendum_on_another_layout_keeps_its_banner(catalog, settings, tmp_path):
    (tmp_path / "fix.md").write_text(
        "---\nkind: corrigendum\ntemplate: announcement\n"
        "corrects: 2019-06-compassion-reports\nsubject: The report link\n---\n\n"
        "The [report](resource:compassion-tools).\n",
        encoding="utf-8",
    )
    source = load_source(tmp_path / "fix.md")
    html = CampaignRenderer(settings, catalog, source, None).render(recipient()).html
    assert "This corrigendum corrects the email" in html and "fff4d6" in html


@pytest.mark.parametrize(
    "href, kind",
    [
        ("resource:compassion-tools", "resource"),
        ("pod:ipc", "pod"),
        ("manage:", "manage"),
        ("archive:", "archive"),
        ("https://www.who.int/a?b=1&c=2", "external"),
        ("mailto:GLL4QUHC@who.int", "mailto"),
        ("", "invalid"),
        ("javascript:alert(1)", "invalid"),
        ("resource:", "invalid"),
        ("www.who.int", "invalid"),
        ("https://", "invalid"),
        ("ftp://x.org/f", "invalid"),
        ("manage:me", "invalid"),
    ],
)
def test_classify_link(href, kind):
    assert classify_link(href).kind == kind


def test_plain_links_are_never_rewritten(catalog, settings, tmp_path):
    url = "https://www.who.int/publications/i/item/9789241513906?utm_source=gll&x=%2F#sec-2"
    (tmp_path / "plain.md").write_text(
        f"---\nsubject: Plain\naudience: {{all: true}}\n---\n\nSee [it]({url}).\n", encoding="utf-8"
    )
    renderer = CampaignRenderer(settings, catalog, load_source(tmp_path / "plain.md"), None)
    message = renderer.render(recipient())
    assert url in parse(message.html).hrefs
    assert f"<{url}>" in message.text


def test_render_errors_name_the_problem(catalog, settings, tmp_path):
    (tmp_path / "bad.md").write_text(
        "---\nsubject: Bad\naudience: {all: true}\n---\n\n[x](resource:nope)\n", encoding="utf-8"
    )
    with pytest.raises(RenderError, match="resource:nope names no resource"):
        CampaignRenderer(settings, catalog, load_source(tmp_path / "bad.md"), None)
    (tmp_path / "near.md").write_text(
        "---\nsubject: Near\naudience: {all: true}\n---\n\n[x](pod:compasion)\n", encoding="utf-8"
    )
    with pytest.raises(RenderError, match="pod:compasion names no learning pod; did you mean pod:compassion?"):
        CampaignRenderer(settings, catalog, load_source(tmp_path / "near.md"), None)
    (tmp_path / "layout.md").write_text(
        "---\nsubject: L\ntemplate: newsleter\naudience: {all: true}\n---\n\nHi\n", encoding="utf-8"
    )
    with pytest.raises(
        RenderError,
        match=r"layout newsleter.mjml not found .* \(layouts: announcement, corrigendum, "
        r"event, report-release\)",
    ):
        CampaignRenderer(settings, catalog, load_source(tmp_path / "layout.md"), None)
    (tmp_path / "typo.md").write_text(
        "---\nsubject: Typo\naudience: {all: true}\n---\n\n{{ subscriber.nmae }}\n", encoding="utf-8"
    )
    renderer = CampaignRenderer(settings, catalog, load_source(tmp_path / "typo.md"), None)
    with pytest.raises(RenderError, match="personalization failed"):
        renderer.render(recipient())


def test_recipient_for_loads_pods(catalog, settings):
    from gll_mail.catalog import get_pod, join_pod

    member = Subscriber(email="wei@example.org", name="Wei", language="zh")
    catalog.add(member)
    catalog.flush()
    join_pod(catalog, member, get_pod(catalog, "ipc"), source="test")
    assert recipient_for(catalog, member).pods == ("ipc",)
    message = CampaignRenderer(settings, catalog, load_source(ORIGINAL), None).render(member)  # a Subscriber works
    assert message.language == "zh" and member.public_id in re.sub(
        r"\s",
        "",
        "".join(
            read_token(settings, "manage", h.rsplit("/", 1)[1]).subject for h in parse(message.html).hrefs if "/m/" in h
        ),
    )


def test_layout_words_differ_by_language():
    words = {code: translator(code).gettext("View this email in your browser") for code in LANGUAGES}
    assert len(set(words.values())) == len(LANGUAGES)
