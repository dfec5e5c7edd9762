"""The suppression list for the team: search, add and remove with a reason, the raw inbound message."""

from __future__ import annotations

import pytest
from team_support import team

from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.members import suppression_list
from gll_mail.models import InboundMessage
from gll_mail.team.audit import entries
from gll_mail.team.roles import PermissionDenied


def test_add_search_remove_with_reasons_in_the_audit_log(any_engine):
    with session_scope(any_engine) as session:
        users = team(session)
        with pytest.raises(PermissionDenied):
            suppression_list.add(session, users["eve"], "x@example.org", note="asked")
        with pytest.raises(GllMailError, match="say why"):
            suppression_list.add(session, users["ada"], "x@example.org", note=" ")
        suppression_list.add(session, users["ada"], "x@example.org", note="asked by phone")
        suppression_list.add(session, users["ada"], "y_z@example.org", reason="complaint", note="complained to WHO")
        rows, more = suppression_list.search(session, users["vic"], q="x@example")
        assert [r.email for r in rows] == ["x@example.org"] and more is None
        assert [r.email for r in suppression_list.search(session, users["vic"], reason="complaint")[0]] == [
            "y_z@example.org"
        ]
        first, cursor = suppression_list.search(session, users["vic"], limit=1)
        assert [r.email for r in first] == ["y_z@example.org"] and cursor is not None
        assert [r.email for r in suppression_list.search(session, users["vic"], cursor=cursor)[0]] == ["x@example.org"]
        assert suppression_list.remove(session, users["ada"], "x@example.org", note="mistake")
        assert not suppression_list.remove(session, users["ada"], "x@example.org", note="again")
        log = entries(session, object="suppression")
        assert [(e.action, e.note) for e in log] == [
            ("suppression.add", "asked by phone"),
            ("suppression.add", "complained to WHO"),
            ("suppression.remove", "mistake"),
        ]
        assert all("@" not in e.object_id for e in log)


def test_the_raw_inbound_message_behind_a_bounce(any_engine):
    with session_scope(any_engine) as session:
        users = team(session)
        row = InboundMessage(source="smtp", raw=b"From: MAILER-DAEMON\r\n\r\n550 no such user", kind="hard")
        session.add(row)
        session.flush()
        message = suppression_list.inbound_message(session, users["vic"], row.id)
        assert "550 no such user" in message["raw"] and message["kind"] == "hard"
        with pytest.raises(GllMailError, match="no inbound message"):
            suppression_list.inbound_message(session, users["vic"], row.id + 1)
