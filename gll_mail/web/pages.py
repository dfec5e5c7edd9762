"""Page plumbing of the member web: the page language, rendering a page, and the friendly error pages.

``create_app`` calls :func:`init_app` (Flask-Babel over the catalogs of :mod:`gll_mail.i18n`) and
registers :func:`page_error`, :func:`http_error` and :func:`server_error` on the app, so every
blueprint's errors become a page in the visitor's language with the right status.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import flask_babel
from flask import Flask, Response, g, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, SecurityError

from gll_mail import i18n
from gll_mail.catalog import display_description, display_name
from gll_mail.languages import LANGUAGES, UnknownLanguage, language_tag, normalize_language, text_direction
from gll_mail.models import Subscriber
from gll_mail.web.context import settings

log = logging.getLogger(__name__)


class PageError(Exception):
    """Show the friendly error page ``kind`` (400, wrong, 404, 410 …) with ``status``."""

    def __init__(self, status: int, kind: str | None = None) -> None:
        super().__init__(kind or str(status))
        self.status, self.kind = status, kind or str(status)


class _Catalogs(flask_babel.Domain):
    """Flask-Babel's domain, reading the same compiled catalogs as the emails (one cache per process)."""

    def get_translations(self):
        locale = flask_babel.get_locale()
        return i18n.translations(str(locale) if locale else "en", self.domain[0])


def init_app(app: Flask) -> None:
    """Flask-Babel: ``_()``, ``ngettext()`` and ``pgettext()`` in the member templates, in the page's
    language. The team console will get a domain of its own (``console``) beside ``messages``."""
    babel = flask_babel.Babel()
    babel.domain_instance = _Catalogs(domain=i18n.DOMAIN)
    babel.init_app(app, locale_selector=lambda: g.get("language") or page_language())
    app.add_template_filter(bdi, "bdi")


def bdi(value) -> Markup:
    """A name isolated in <bdi> (escaped), so a Latin name keeps its place in Arabic text."""
    return Markup("<bdi>{}</bdi>").format(value)


def page_language(subscriber: Subscriber | None = None) -> str:
    """``?lang=xx``, else the member's language, else the browser's ``Accept-Language``, else English."""
    asked = request.args.get("lang", "")
    if asked:
        try:
            return normalize_language(asked)  # zh, zh-Hans, zh-CN → zh
        except UnknownLanguage:
            pass
    if subscriber is not None and subscriber.language in LANGUAGES:
        return subscriber.language
    for tag, quality in request.accept_languages:  # best first; zh-CN, zh-TW, zh-Hans → zh
        if quality > 0:
            try:
                return normalize_language(tag)
            except UnknownLanguage:
                continue
    return "en"


def page(template: str, status: int = 200, *, language: str | None = None, **context) -> Response:
    language = language or g.get("language") or page_language()
    with flask_babel.force_locale(language):
        html = render_template(
            f"members/{template}",
            lang=language_tag(language),  # zh-Hans, not zh
            dir=text_direction(language),
            languages={code: {**info, "tag": language_tag(code)} for code, info in LANGUAGES.items()},
            current_language=language,
            postal_address=i18n.postal_address(settings(), i18n.translator(language)),
            named=lambda obj: display_name(obj, language),  # catalog names in the page's language
            described=lambda obj: display_description(obj, language),
            **context,
        )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Language"] = language_tag(language)
    return response


def error_page(status: int, kind: str | None = None) -> Response:
    kind = kind or str(status)
    return page("error.html", status, kind=kind, register_url="/register")


def local_path(url: str) -> str:
    """The path (and query) of one of our own absolute URLs, to redirect within this site."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def page_error(exc: PageError):
    return error_page(exc.status, exc.kind)


def http_error(exc: HTTPException):
    if isinstance(exc, SecurityError):  # a Host we do not answer to: no page, no URL built from it
        return Response("400 Bad Request: unknown host\n", 400, mimetype="text/plain")
    if request.blueprint == "admin" or (request.blueprint or "").startswith("console_"):
        return exc
    status = exc.code or 500
    kind = "csrf" if status == 403 else str(status) if status in (400, 404, 405, 410, 413, 429) else "400"
    response = error_page(status, kind)
    if status == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def server_error(exc: Exception):
    log.exception("unhandled error on %s", request.path)
    return error_page(500, "500")
