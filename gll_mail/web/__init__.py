"""The member web site: gated links, registration, the manage page and unsubscribe.

``create_app()`` is the one factory; blueprints are thin shells over the domain modules.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.engine import Engine

from gll_mail.db import engine_for, session_scope
from gll_mail.members.attempts import Attempts
from gll_mail.settings import Settings


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # web/assets.py serves static/ from memory
    app.config.update(
        SECRET_KEY=settings.secret_keys[0],
        MAX_CONTENT_LENGTH=64 * 1024,
        TESTING=settings.env == "test",
    )
    app.extensions["gll_mail"] = {
        "settings": settings,
        "engine": engine or engine_for(settings.database_url),
    }

    from gll_mail.web.admin import bp as admin_bp; app.register_blueprint(admin_bp)  # noqa: E702 (issue 6)
    from gll_mail.web.tracking import bp as tracking_bp; app.register_blueprint(tracking_bp)  # noqa: E702
    from gll_mail.web import (  # issue 5: the member web
        archive,
        assets,
        clicks,
        members,
        security,
    )
    security.init_app(app, settings)
    assets.init_app(app)
    app.extensions["gll_mail_attempts"] = Attempts(app.extensions["gll_mail"]["engine"], settings.secret_keys[0])
    app.extensions["gll_mail_clicks"] = clicks.ClickWriter(app.extensions["gll_mail"]["engine"],
                                                           interval=0 if app.testing else 0.2)
    app.register_blueprint(members.bp)
    app.register_blueprint(archive.bp)

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app


def app_settings(app: Flask) -> Settings:
    return app.extensions["gll_mail"]["settings"]


def app_session(app: Flask):
    return session_scope(app.extensions["gll_mail"]["engine"])
