"""One rule for stored text (addresses.clean_text), the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from gll_mail import catalog
from gll_mail.addresses import clean_text
from gll_mail.db import session_scope
from gll_mail.models import AdminUser, Pod, Topic
from gll_mail.team.accounts import authenticate, create_admin


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("Ana\x00 Silva", "Ana Silva"),
        ("Ana\tSilva\r\nMoH", "Ana Silva MoH"),
        ("\x01\x1b[31mred\x7f\x9b", "[31mred"),
        ("\u202egnp.exe\u202c", "gnp.exe"),
        ("\u2066عربي\u2069 \u2067x\u2068", "عربي x"),
        ("Wei\u200bZhang\u200c\u200d\u2060\ufeff", "WeiZhang"),
        ("caf\udce9", "caf"),
        ("  Zoë   Müller  ", "Zoë Müller"),
        ("مريم 王芳 Мария", "مريم 王芳 Мария"),
        (None, ""),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_catalog_names_typed_by_staff_are_cleaned(any_engine):
    with session_scope(any_engine) as session:
        catalog.create_topic(session, slug="news", name="News\x00 \u202eletter", description="Monthly\x00")
        catalog.create_pod(session, slug="ipc", name="\u200bIPC\x00")
    with session_scope(any_engine) as session:
        topic = session.exec(select(Topic)).one()
        assert (topic.name, topic.description) == ("News letter", "Monthly")
        assert session.exec(select(Pod.name)).one() == "IPC"


def test_admin_usernames_with_a_nul_neither_crash_nor_differ(any_engine):
    with session_scope(any_engine) as session:
        create_admin(session, "ana\x00\u200b", "a long enough password")
    with session_scope(any_engine) as session:
        assert session.exec(select(AdminUser.username)).one() == "ana"
        assert authenticate(session, "ana\x00", "a long enough password").username == "ana"
        assert authenticate(session, "nobody\x00", "a long enough password") is None
