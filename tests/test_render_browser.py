"""The rendered email in real headless Chromium: every link is there and visible, Arabic runs right-to-left."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import need
from web_support import ARGS, CHROMIUM

from gll_mail import links
from gll_mail.campaigns.records import sync_campaign
from gll_mail.campaigns.render import CampaignRenderer, Recipient
from gll_mail.campaigns.sources import load_source
from gll_mail.demo.data import seed_catalog

REPO = Path(__file__).resolve().parent.parent


def unsigned(url: str) -> str:
    """A signed link without its timestamp and signature (the second may tick between two renders)."""
    if url.startswith("https://gll.example.org/"):
        return url.rsplit(".", 2)[0]
    return url


@pytest.mark.browser
def test_every_link_is_present_and_visible_in_chromium(session, settings, tmp_path):
    if not Path(CHROMIUM).exists():
        need("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    seed_catalog(session, settings.resources_dir)
    source = load_source(REPO / "campaigns" / "2019-06-compassion-reports.md")
    campaign = sync_campaign(session, source)
    renderer = CampaignRenderer(settings, session, source, campaign)
    public_id = "BrowserTestPublicId0001"
    common = {
        links.gate_url(settings, public_id, "codevelopment-synthesis-report", campaign.id),
        links.gate_url(settings, public_id, "compassion-scoping-report", campaign.id),
        links.gate_url(settings, public_id, "compassion-tools", campaign.id),
        links.join_pod_url(settings, public_id, "compassion", campaign_id=campaign.id),
        links.archive_url(settings, public_id, source.slug),
        "https://www.who.int/health-topics/neglected-tropical-diseases",
        "https://www.who.int/servicedeliverysafety/areas/qhc/gll/en/",
        "mailto:GLL4QUHC@who.int",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1000}, java_script_enabled=True)
            page.route("**/*", lambda route: route.abort())  # an email must not need the network
            for language in ("en", "ar"):
                expected = {
                    *common,  # manage and unsubscribe links carry the recipient's language
                    links.manage_url(settings, public_id, campaign.id, language=language),
                    links.unsubscribe_url(settings, public_id, campaign.id, language=language),
                }
                message = renderer.render(Recipient(public_id, "x@example.org", "Amina", language))
                page.set_content(message.html, wait_until="load")
                anchors = page.eval_on_selector_all(
                    "a",
                    """els => els.map(a => {
                    const r = a.getBoundingClientRect(), s = getComputedStyle(a);
                    return {href: a.getAttribute('href'), text: a.innerText.trim(), w: r.width, h: r.height,
                            visible: s.visibility !== 'hidden' && s.display !== 'none' && parseFloat(s.opacity) > 0,
                            color: s.color, bg: getComputedStyle(a.parentElement).backgroundColor};
                })""",
                )
                hrefs = {unsigned(a["href"]) for a in anchors}
                missing = {unsigned(u) for u in expected} - hrefs
                assert not missing, missing
                for anchor in anchors:
                    assert anchor["text"], anchor
                    assert anchor["visible"] and anchor["w"] > 0 and anchor["h"] > 0, anchor
                    assert anchor["color"] != anchor["bg"], anchor
                for anchor_href in expected:
                    locator = page.locator(f'a[href^="{unsigned(anchor_href)}"]').first
                    assert locator.is_visible(), anchor_href
                body = page.locator("div.gll-body")
                direction = body.evaluate("el => getComputedStyle(el).direction")
                assert direction == ("rtl" if language == "ar" else "ltr")
                assert page.evaluate("document.documentElement.lang") == language
                # readable without images: the text is there with images blocked
                assert "Dear Amina," in page.inner_text("body") if language == "en" else True
        finally:
            browser.close()


SCREENSHOTS = REPO / "docs" / "screenshots"


def _luminance(css_color: str) -> float:
    r, g, b = (int(float(x)) for x in css_color[css_color.index("(") + 1 :].rstrip(")").split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.browser
def test_light_and_dark_mode_rtl_accent_and_hidden_preheader_in_chromium(session, settings):
    """Screenshots in light and dark mode (docs/screenshots/email-*-light.png, -dark.png); dark mode
    recolours the page, cards and banner; the corrigendum accent is on the reading side; the
    preheader is in the page but hidden; Chinese is zh-Hans."""
    if not Path(CHROMIUM).exists():
        need("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    seed_catalog(session, settings.resources_dir)
    renderers = {}
    for name in ("2019-06-compassion-reports", "2019-06-18-corrigendum"):
        source = load_source(REPO / "campaigns" / f"{name}.md")
        renderers[source.kind] = CampaignRenderer(settings, session, source, sync_campaign(session, source))
    cases = [("report-release", "en"), ("report-release", "zh"), ("corrigendum", "en"), ("corrigendum", "ar")]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for scheme in ("light", "dark"):
                page = browser.new_page(viewport={"width": 700, "height": 1000}, color_scheme=scheme)
                page.route("**/*", lambda route: route.abort())
                for kind, language in cases:
                    message = renderers[kind].render(
                        Recipient("ScreenshotPublicId01", "x@example.org", "Amina", language)
                    )
                    page.set_content(message.html, wait_until="load")
                    page.screenshot(path=str(SCREENSHOTS / f"email-{kind}-{language}-{scheme}.png"), full_page=True)
                    body = page.evaluate("getComputedStyle(document.body).backgroundColor")
                    card = page.evaluate("getComputedStyle(document.querySelector('.gll-card')).backgroundColor")
                    text = page.evaluate("getComputedStyle(document.querySelector('.gll-body')).color")
                    if scheme == "dark":
                        assert _luminance(body) < 60 and _luminance(card) < 60, (kind, language, body, card)
                        assert _luminance(text) > 180, (kind, language, text)
                    else:
                        assert _luminance(body) > 200 and _luminance(card) > 240, (kind, language, body, card)
                        assert _luminance(text) < 80, (kind, language, text)
                    assert page.evaluate("document.documentElement.lang") == (
                        "zh-Hans" if language == "zh" else language
                    )
                    preview = page.locator('div[style^="display:none"]')
                    assert preview.count() == 1 and preview.text_content() == message.preheader
                    assert not preview.is_visible()
                    assert message.preheader not in page.inner_text("body")
                    if kind == "corrigendum":
                        sides = page.evaluate("""(() => {
                            const s = getComputedStyle(document.querySelector('.gll-banner td'));
                            return [parseFloat(s.borderLeftWidth), parseFloat(s.borderRightWidth)];
                        })()""")
                        assert sides == ([0, 6] if language == "ar" else [6, 0]), (language, sides)
                page.close()
        finally:
            browser.close()
