"""The audit log: who, when, what, on which object; names outlive deleted accounts; filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from team_support import Clock, team

from gll_mail.db import session_scope
from gll_mail.errors import GllMailError
from gll_mail.team.accounts import delete_admin
from gll_mail.team.audit import as_dict, as_line, entries, parse_since, record


def test_entries_keep_who_when_what_and_filter(any_engine):
    clock = Clock(datetime(2020, 1, 1, 9, 0, tzinfo=UTC))  # before the real time of the deletion
    with session_scope(any_engine) as session:
        users = team(session)
        record(
            session,
            users["eve"],
            "campaign.save",
            object_type="campaign",
            object_id="a",
            hash_after="1" * 64,
            clock=clock,
            details={"revision": 1},
        )
        clock.advance(days=2)
        record(
            session,
            users["abe"],
            "campaign.approve",
            object_type="campaign",
            object_id="a",
            hash_before="",
            hash_after="1" * 64,
            note="fine",
            clock=clock,
        )
        record(session, None, "team.create", object_type="admin", object_id="new", clock=clock)
        delete_admin(session, "eve", actor=users["ada"])
    with session_scope(any_engine) as session:
        everything = entries(session)
        assert [(e.username, e.action) for e in everything] == [
            ("eve", "campaign.save"),
            ("abe", "campaign.approve"),
            ("(command line)", "team.create"),
            ("ada", "team.delete"),
        ]
        first = everything[0]
        assert first.user_id is None and first.username == "eve"  # the account is gone, the name stays
        assert first.created_at == datetime(2020, 1, 1, 9, 0, tzinfo=UTC) and first.details == {"revision": 1}
        assert [e.action for e in entries(session, object="campaign:a")] == ["campaign.save", "campaign.approve"]
        assert [e.object_id for e in entries(session, object=("admin", ""))] == ["new", "eve"]
        assert [e.action for e in entries(session, since=datetime(2020, 1, 2, tzinfo=UTC), object="campaign:a")] == [
            "campaign.approve"
        ]
        assert [e.action for e in entries(session, limit=1)] == ["team.delete"]
        line = as_line(everything[1])
        assert line == "2020-01-03 09:00:00Z  abe  campaign.approve  campaign:a  -→11111111  “fine”"
        assert as_dict(everything[1])["object"] == "campaign:a"


def test_since_reads_dates_and_spans():
    now = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert parse_since("12h", now) == datetime(2026, 12, 10, 0, 0, tzinfo=UTC)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(GllMailError, match="--since must be"):
        parse_since("last week", now)
