"""The one Settings object and its refusal of unsafe values."""

from __future__ import annotations

from pathlib import Path

import pytest

from gll_mail.settings import PLACEHOLDER_SECRET, SETTINGS_HELP, Settings, SettingsError


def test_defaults_are_the_embedded_development_setup():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///subscribers.db"
    assert settings.is_development and settings.secret_keys == (PLACEHOLDER_SECRET,)


def test_reads_prefixed_environment():
    settings = Settings.from_env(
        {
            "GLL_MAIL_DATABASE_URL": "postgresql://postgres@127.0.0.1/gll",
            "GLL_MAIL_SMTP_URL": "smtp://u:p@mail.example.org:587?starttls=true",
            "GLL_MAIL_SECRET_KEYS": "newest-key, older-key ,",
            "GLL_MAIL_FROM": "GLL <gll@who.int>",
            "GLL_MAIL_LIST_ID": "GLL <gll.who.int>",
            "GLL_MAIL_CAMPAIGNS_DIR": "/srv/campaigns",
        }
    )
    assert settings.secret_keys == ("newest-key", "older-key")
    assert settings.from_address == "GLL <gll@who.int>"
    assert settings.campaigns_dir == Path("/srv/campaigns")


def test_the_placeholder_secret_only_serves_a_site_on_this_machine():
    """GLL_MAIL_ENV defaults to development; a real site address with the public placeholder key
    would let anyone sign manage links for any member."""
    assert Settings.from_env({"GLL_MAIL_BASE_URL": "http://localhost:8000"}).secret_keys == (PLACEHOLDER_SECRET,)
    with pytest.raises(SettingsError, match="anyone could forge"):
        Settings.from_env({"GLL_MAIL_BASE_URL": "https://gll.who.int"})
    assert Settings.from_env({"GLL_MAIL_BASE_URL": "https://gll.who.int", "GLL_MAIL_SECRET_KEYS": "k" * 40})


def test_production_refuses_placeholder_and_short_secrets():
    with pytest.raises(SettingsError, match="placeholder"):
        Settings.from_env({"GLL_MAIL_ENV": "production", "GLL_MAIL_BASE_URL": "https://gll.who.int"})
    with pytest.raises(SettingsError):
        Settings.from_env(
            {"GLL_MAIL_ENV": "production", "GLL_MAIL_SECRET_KEYS": "short", "GLL_MAIL_BASE_URL": "https://gll.who.int"}
        )
    ok = Settings.from_env(
        {"GLL_MAIL_ENV": "production", "GLL_MAIL_SECRET_KEYS": "k" * 40, "GLL_MAIL_BASE_URL": "https://gll.who.int"}
    )
    assert not ok.is_development


@pytest.mark.parametrize(
    "name,value",
    [
        ("GLL_MAIL_ENV", "staging"),
        ("GLL_MAIL_BASE_URL", "gll.who.int"),
        ("GLL_MAIL_SMTP_URL", "http://mail"),
    ],
)
def test_malformed_values_are_refused(name, value):
    with pytest.raises(SettingsError):
        Settings.from_env({name: value})


def test_every_setting_is_documented():
    from dataclasses import fields

    from gll_mail.settings import ENV_NAMES, PREFIX

    names = {PREFIX + ENV_NAMES.get(f.name, f.name.upper()) for f in fields(Settings) if f.name != "extra"}
    assert names == set(SETTINGS_HELP)
