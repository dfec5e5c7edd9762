"""Roles (one table for every shell), team accounts with roles, and the TOTP second factor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import select
from team_support import PASSWORD, team

from gll_mail.db import alembic_config, migrate, session_scope
from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser
from gll_mail.team import totp
from gll_mail.team.accounts import create_admin, delete_admin, reset_password, set_role
from gll_mail.team.audit import entries
from gll_mail.team.roles import ACTIONS, ROLES, PermissionDenied, can, require


def test_each_role_can_do_what_the_roles_below_it_can(session):
    users = team(session)
    assert ROLES == ("viewer", "editor", "approver", "admin")
    assert can(users["vic"], "report.view") and not can(users["vic"], "campaign.edit")
    assert can(users["eve"], "campaign.edit") and not can(users["eve"], "campaign.approve")
    assert can(users["abe"], "campaign.approve") and not can(users["abe"], "team.manage")
    assert all(can(users["ada"], action) for action in ACTIONS)
    assert not can(None, "report.view")
    with pytest.raises(KeyError):
        can(users["ada"], "campaign.teleport")


def test_require_says_who_may_and_how_to_get_there(session):
    users = team(session)
    assert require(users["abe"], "campaign.approve") is users["abe"]
    with pytest.raises(
        PermissionDenied,
        match=r"eve is an editor; campaign.approve needs the role approver or "
        r"higher \(an admin can change it: gll-mail admin role eve approver\)",
    ):
        require(users["eve"], "campaign.approve")
    with pytest.raises(PermissionDenied, match="sign in first"):
        require(None, "campaign.view")
    assert issubclass(PermissionDenied, GllMailError)


def test_first_account_is_an_admin_later_ones_editors(any_engine):
    with session_scope(any_engine) as session:
        assert create_admin(session, "lead", PASSWORD).role == "admin"
        assert create_admin(session, "writer", PASSWORD).role == "editor"
        assert create_admin(session, "checker", PASSWORD, "approver").role == "approver"
        with pytest.raises(GllMailError, match="unknown role 'boss'"):
            create_admin(session, "boss", PASSWORD, "boss")


def test_roles_change_but_the_team_keeps_an_admin(any_engine):
    with session_scope(any_engine) as session:
        lead = create_admin(session, "lead", PASSWORD)
        create_admin(session, "writer", PASSWORD)
        with pytest.raises(GllMailError, match="lead is the last admin"):
            set_role(session, "lead", "editor")
        with pytest.raises(GllMailError, match="lead is the last admin"):
            delete_admin(session, "lead")
        set_role(session, "writer", "admin", actor=lead)
        set_role(session, "lead", "viewer", actor=lead)
        log = entries(session, object="admin:lead", action="team.role")
        assert [(e.username, e.details) for e in log] == [("lead", {"before": "admin", "after": "viewer"})]


def test_reset_password_gives_a_one_time_password_and_ends_sessions(session):
    from gll_mail.team.accounts import authenticate, session_stamp

    users = team(session)
    stamp = session_stamp(users["eve"])
    one_time = reset_password(session, "eve", actor=users["ada"])
    assert len(one_time) >= 12 and authenticate(session, "eve", PASSWORD) is None
    eve = authenticate(session, "eve", one_time)
    assert eve is not None and eve.must_change_password and session_stamp(eve) != stamp
    assert [e.username for e in entries(session, action="team.reset-password")] == ["ada"]


def test_existing_accounts_become_admins_in_the_migration(any_engine):
    config = alembic_config(any_engine)
    with any_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    with any_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO adminuser (username, password_hash, created_at, session_epoch) "
                "VALUES ('old', 'x', CURRENT_TIMESTAMP, 0)"
            )
        )
    migrate(any_engine)
    with session_scope(any_engine) as session:
        old = session.exec(select(AdminUser)).one()
        assert old.role == "admin" and old.totp_secret is None and not old.must_change_password
        assert create_admin(session, "new", PASSWORD).role == "editor"  # there is an admin already


T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


def test_totp_codes_are_checked_with_a_window_and_used_once(session):
    users = team(session)
    eve = users["eve"]
    uri = totp.enrol(session, eve, actor=users["ada"])
    assert uri.startswith("otpauth://totp/") and "eve" in uri and "issuer=GLL%20mail" in uri
    assert eve.totp_secret and totp.enrolled(eve)
    code_now = pyotp.TOTP(eve.totp_secret).at(T0)
    assert not totp.verify(session, eve, "000000" if code_now != "000000" else "111111", at=T0)
    assert totp.verify(session, eve, code_now, at=T0 + timedelta(seconds=35))  # the next step: within the window
    assert not totp.verify(session, eve, code_now, at=T0)  # the same code again: refused
    later = T0 + timedelta(minutes=5)
    assert not totp.verify(session, eve, pyotp.TOTP(eve.totp_secret).at(T0 + timedelta(minutes=3)), at=later)
    assert totp.verify(session, eve, pyotp.TOTP(eve.totp_secret).at(later), at=later)
    totp.disable(session, eve)
    assert not totp.verify(session, eve, pyotp.TOTP("A" * 32).at(later), at=later)
    assert [e.action for e in entries(session, object="admin:eve")] == ["team.totp-enrol", "team.totp-disable"]


def test_totp_is_required_for_approvers_and_admins_in_production(session, settings):
    users = team(session)
    production = settings.replace(env="production")
    assert [name for name, user in users.items() if totp.required(production, user)] == ["ada", "abe", "amy"]
    assert not any(totp.required(settings, user) for user in users.values())
