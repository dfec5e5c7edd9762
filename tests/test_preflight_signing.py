"""Production refuses unsigned mail: with GLL_MAIL_ENV=production the preflight is an error when there
is no DKIM key or when d= is not the From domain (DMARC); in development both stay warnings or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from mail_kinds import write_key

from gll_mail.campaigns.preflight import check
from gll_mail.campaigns.sources import load_source
from gll_mail.demo.data import seed_catalog, seed_members

ORIGINAL = Path(__file__).resolve().parent.parent / "campaigns" / "2019-06-compassion-reports.md"
PRODUCTION = {"env": "production", "secret_keys": ("p" * 48,)}


@pytest.fixture
def db(session, settings):
    seed_catalog(session, settings.resources_dir)
    seed_members(session, 10)
    return session


def texts(problems) -> list[str]:
    return [str(p) for p in problems]


def test_unsigned_mail_is_an_error_in_production_only(db, settings):
    development = check(settings, db, load_source(ORIGINAL))
    assert development.ok, texts(development.errors)
    production = check(settings.replace(**PRODUCTION), db, load_source(ORIGINAL))
    assert not production.ok
    assert texts(production.errors) == [
        "production refuses unsigned mail: set GLL_MAIL_DKIM_KEY_FILE, GLL_MAIL_DKIM_SELECTOR and "
        "GLL_MAIL_DKIM_DOMAIN (see `gll-mail dkim keygen`)"
    ]


def test_a_signature_dmarc_does_not_count_is_an_error_in_production(db, settings, tmp_path):
    foreign = settings.replace(
        dkim_key_file=str(write_key(tmp_path / "k.pem")), dkim_selector="gll2026", dkim_domain="gll.example.org"
    )
    development = check(foreign, db, load_source(ORIGINAL))
    assert development.ok and "DMARC will not count" in texts(development.warnings)[0]
    production = check(foreign.replace(**PRODUCTION), db, load_source(ORIGINAL))
    assert not production.ok
    [error] = texts(production.errors)
    assert "production refuses mail DMARC would not count as signed" in error and "d=gll.example.org" in error
    aligned = check(foreign.replace(dkim_domain="who.int", **PRODUCTION), db, load_source(ORIGINAL))
    assert aligned.ok and aligned.warnings == []
