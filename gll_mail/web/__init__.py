"""The member web site: gated links, registration, the manage page and unsubscribe; the team's /admin.

``create_app()`` is the one factory: it builds the request context (:mod:`gll_mail.web.context`),
registers the error pages (:mod:`gll_mail.web.pages`) and one blueprint per area, each a thin shell
over the domain modules.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from gll_mail.db import engine_for
from gll_mail.settings import Settings
from gll_mail.web import (
    admin,
    api,
    archive,
    assets,
    context,
    gate,
    manage,
    operations,
    pages,
    registration,
    security,
    tracking,
)
from gll_mail.web.console import (
    actions,
    api_tokens,
    campaigns,
    editor,
    imports,
    library,
    members,
    suppressions,
    team,
    webhooks,
)
from gll_mail.web.console import catalog as console_catalog


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # web/assets.py serves static/ from memory
    app.config.update(
        SECRET_KEY=settings.secret_keys[0],
        MAX_CONTENT_LENGTH=64 * 1024,
        TESTING=settings.env == "test",
    )
    web = context.init_app(app, settings, engine or engine_for(settings.database_url))
    operations.init_app(app, settings, web.engine)  # /metrics, /readyz, request ids; inside ProxyFix
    security.init_app(app, settings)
    assets.init_app(app)

    pages.init_app(app)  # Flask-Babel: the member pages speak the visitor's language
    app.register_error_handler(pages.PageError, pages.page_error)
    app.register_error_handler(HTTPException, pages.http_error)
    app.register_error_handler(Exception, pages.server_error)

    console = (campaigns.bp, editor.bp, actions.bp, team.bp, webhooks.bp, api_tokens.bp)
    members_area = (members.bp, console_catalog.bp, library.bp, suppressions.bp, imports.bp)
    for blueprint in (admin.bp, *console, *members_area, tracking.bp, gate.bp, registration.bp, manage.bp, archive.bp):
        app.register_blueprint(blueprint)

    api.init_app(app)  # /api/v1: bearer tokens, no CSRF, problem+json errors

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app
