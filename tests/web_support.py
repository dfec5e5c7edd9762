"""The member web tests' fixtures and helpers.

A pytest plugin (``pytest_plugins`` in conftest.py) giving the fixtures ``web_settings``, ``app`` and
``client`` (an app on this test's database and SMTP server); tests import the helpers by name: members,
forms, and the accessibility check the browser tests run on every page they screenshot."""

from __future__ import annotations

import re
import shutil
from email import message_from_bytes, policy

import pytest

from gll_mail.demo.data import seed_catalog
from gll_mail.models import PodMembership, Subscriber, SubscriberStatus, utcnow
from gll_mail.web import create_app

BASE = "https://gll.example.org"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web_settings(settings, smtp_server):
    return settings.replace(smtp_url=smtp_server.url)


@pytest.fixture
def app(web_settings, engine, session):
    seed_catalog(session, web_settings.resources_dir)
    session.commit()
    return create_app(web_settings, engine)


@pytest.fixture
def client(app):
    return app.test_client()


def add_member(
    session,
    email: str,
    *,
    registered: bool = True,
    language: str = "en",
    pods=(),
    status: str = SubscriberStatus.ACTIVE,
    name: str = "Amina Haddad",
) -> Subscriber:
    from sqlmodel import select

    from gll_mail.models import Pod

    sub = Subscriber(
        email=email, name=name, language=language, status=status, registered_at=utcnow() if registered else None
    )
    session.add(sub)
    session.flush()
    for slug in pods:
        pod = session.exec(select(Pod).where(Pod.slug == slug)).one()
        session.add(PodMembership(subscriber_id=sub.id, pod_id=pod.id))
    session.commit()
    return sub


def csrf(response) -> str:
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, "page has no CSRF token"
    return match.group(1)


def url_in_text(raw: bytes, prefix: str) -> str:
    """The first URL starting with ``prefix`` in a message's plain-text part."""
    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_body(("plain",)).get_content()
    match = re.search(re.escape(prefix) + r"[^\s<>\"]+", body)
    assert match, f"no {prefix} link in:\n{body}"
    return match.group(0)


# --- accessibility check for the browser tests (tests/test_web_browser.py calls it on every screenshot) ---

_A11Y_COMMON = r"""
const describe = (el) => {
  let what = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + [...el.classList].map(c => '.' + c).join('');
  if (!el.id) for (const a of ['name', 'value', 'href']) if (el.hasAttribute(a)) what += `[${a}="${el.getAttribute(a).slice(0, 30)}"]`;
  const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
  return text ? `${what} "${text}"` : what;
};
const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const focusables = () => [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')]
  .filter(el => el.getAttribute('tabindex') !== '-1' && !el.disabled && shown(el));
"""

_A11Y_STATIC = (
    "(language) => {"
    + _A11Y_COMMON
    + r"""
  const problems = [];
  const html = document.documentElement, wantDir = language === 'ar' ? 'rtl' : 'ltr';
  if (html.lang !== language) problems.push(`<html lang="${html.lang}">: expected "${language}"`);
  if ((html.dir || 'ltr') !== wantDir) problems.push(`<html dir="${html.dir}">: expected "${wantDir}"`);
  const byIds = (ids) => (ids || '').split(/\s+/).map(id => document.getElementById(id)?.textContent || '').join(' ').trim();
  const name = (el) => (el.getAttribute('aria-label') || byIds(el.getAttribute('aria-labelledby')) || el.textContent
    || [...el.querySelectorAll('img[alt]')].map(img => img.alt).join(' ')).trim();

  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea'))
    if (shown(el) && ![...el.labels].some(label => label.textContent.trim()) && !name(el))
      problems.push(`${describe(el)}: no <label> and no aria-label`);
  for (const el of document.querySelectorAll('a, button'))
    if (!name(el)) problems.push(`${describe(el)}: no accessible text`);
  for (const el of document.querySelectorAll('img:not([alt])')) problems.push(`${describe(el)}: no alt`);
  for (const el of document.querySelectorAll('[tabindex]'))
    if (el.tabIndex > 0) problems.push(`${describe(el)}: positive tabindex ${el.tabIndex} breaks the DOM focus order`);
  const first = focusables()[0];
  if (!first || !first.matches('.skip')) problems.push(`first focusable is ${first ? describe(first) : 'nothing'}, not the skip link`);

  // WCAG AA contrast of every visible element that directly contains text (and of form controls' text)
  const rgba = (css) => { const v = css.match(/[\d.]+/g).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const background = (el) => {  // ancestors' background colours down to the first opaque one, composited
    const layers = [];
    for (let e = el; e && e !== html; e = e.parentElement) {
      const colour = rgba(getComputedStyle(e).backgroundColor);
      if (colour[3] > 0) layers.unshift(colour);
      if (colour[3] >= 1) break;
    }
    return layers.reduce((under, top) => over(top, under), [255, 255, 255, 1]);
  };
  const luminance = (c) => c.slice(0, 3).map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  for (const el of document.body.querySelectorAll('*')) {
    const ownText = [...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    const control = el.matches('input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea');
    if (!(ownText || control) || !shown(el)) continue;
    const style = getComputedStyle(el), bg = background(el), fg = over(rgba(style.color), bg);
    const [light, dark] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05), size = parseFloat(style.fontSize);
    const needed = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700) ? 3 : 4.5;
    if (ratio < needed) problems.push(`${describe(el)}: contrast ${ratio.toFixed(2)}:1 (${style.color} on `
      + `rgb(${bg.slice(0, 3).map(Math.round).join(', ')}), ${size}px), needs ${needed}:1`);
  }
  return problems;
}"""
)

_A11Y_FOCUSED = (
    "() => {"
    + _A11Y_COMMON
    + r"""
  const el = document.activeElement, style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  return {index: focusables().indexOf(el), what: describe(el), indicator: outline || style.boxShadow !== 'none'};
}"""
)


def check_accessibility(page, language: str) -> None:
    """Assert the page in ``page`` is accessible: <html lang dir>, labels, accessible names, img alt,
    WCAG AA text contrast, and a keyboard focus order that follows the DOM with a visible indicator."""
    problems = page.evaluate(_A11Y_STATIC, language)
    expected = page.evaluate("() => {" + _A11Y_COMMON + "return focusables().map(describe); }")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for position, wanted in enumerate(expected):
        page.keyboard.press("Tab")
        focused = page.evaluate(_A11Y_FOCUSED)
        if focused["index"] != position:
            problems.append(f"Tab #{position + 1} focused {focused['what']}, expected {wanted} (DOM order)")
            break
        if not focused["indicator"]:
            problems.append(f"{wanted}: no visible focus indicator (no outline, no box-shadow) when focused")
    assert not problems, f"accessibility problems on {page.url}:\n  " + "\n  ".join(problems)


# Debian's chromium, driven by Playwright (its own browser download does not work here)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
