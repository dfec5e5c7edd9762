"""Helpers for the REST API tests: an app with the test catalog and team, tokens per role."""

from __future__ import annotations

from team_support import seed_catalog, team

from gll_mail.db import session_scope
from gll_mail.team.api_tokens import create_token
from gll_mail.team.audit import COMMAND_LINE
from gll_mail.web import create_app

USERS = {"viewer": "vic", "editor": "eve", "approver": "abe", "admin": "ada"}


def api_app(settings, engine):
    """(app, tokens): role → the secret of a token acting as that role's account, plus "service"
    (an admin service token) and "revoked"."""
    with session_scope(engine) as session:
        seed_catalog(session, settings)
        team(session)
    tokens = {}
    with session_scope(engine) as session:
        for role, user in USERS.items():
            tokens[role] = create_token(session, COMMAND_LINE, f"t-{role}", role, username=user)[1]
        tokens["service"] = create_token(session, COMMAND_LINE, "t-service", "admin")[1]
        tokens["revoked"] = create_token(session, COMMAND_LINE, "t-revoked", "admin")[1]
    from gll_mail.team.api_tokens import revoke_token

    with session_scope(engine) as session:
        revoke_token(session, COMMAND_LINE, "t-revoked")
    return create_app(settings, engine), tokens


def auth(secret: str, **headers) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "Host": "gll.example.org", **headers}
