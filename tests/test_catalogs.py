"""The guards on the gettext catalogs (gll_mail/i18n/locale/*/LC_MESSAGES/messages.po).

Every message is translated in all six languages with no fuzzy entry, with the same placeholders as
the English; the catalogs hold exactly what `pybabel extract` finds in the code (run `make
translations` after changing a message); every message with a placeholder has a translator comment;
plural forms follow CLDR; dates are CLDR's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from gll_mail import i18n
from gll_mail.i18n import catalogs
from gll_mail.i18n.pseudo import GROWTH, pseudo, pseudo_translations
from gll_mail.i18n.translator import DEFAULT_POSTAL_ADDRESS, postal_address
from gll_mail.languages import LANGUAGES
from gll_mail.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalog(language: str) -> Catalog:
    with catalogs.po_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


def messages(language: str):
    return [m for m in catalog(language) if m.id]


def forms(text) -> list[str]:
    return list(text) if isinstance(text, tuple) else [text]


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_there_is_one_catalog_per_language():
    found = {p.parent.parent.name for p in catalogs.LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert found == set(LANGUAGES)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_message_is_translated_and_none_is_fuzzy(language):
    cat = catalog(language)
    assert not cat.fuzzy, f"{language}: the catalog header is fuzzy"
    for message in messages(language):
        assert not message.fuzzy, (language, message.id)
        assert all(form.strip() for form in forms(message.string)), (language, message.id)
    assert not list(cat.obsolete), (language, list(cat.obsolete))


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_placeholders_are_those_of_the_english(language):
    for message in messages(language):
        expected = set().union(*(placeholders(text) for text in forms(message.id)))
        for form in forms(message.string):
            found = placeholders(form)
            # a plural form may spell its count out ("يومين", two days): only %(num)d may be left out
            assert found <= expected and expected - found <= {"num"}, (language, message.id, form)
            if not isinstance(message.id, tuple):
                assert found == expected, (language, message.id, form)
            assert "%" not in PLACEHOLDER.sub("", form), (language, message.id, "a stray %")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_plural_forms_are_cldrs(language):
    cat = catalog(language)
    assert cat.plural_forms == Catalog(locale=language).plural_forms
    for message in messages(language):
        if isinstance(message.id, tuple):
            assert len(message.string) == cat.num_plurals, (language, message.id)
    assert {"ru": 3, "ar": 6, "zh": 1, "en": 2}.get(language, cat.num_plurals) == cat.num_plurals


def extract(tmp_path: Path) -> Catalog:
    pybabel = shutil.which("pybabel", path=str(Path(sys.executable).parent)) or "pybabel"
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [pybabel, "extract", "-F", "babel.cfg", "-c", "Translators:", "--add-location=file", "-o", str(pot), "."],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return read_po(handle)


def test_the_catalogs_are_up_to_date_with_the_code(tmp_path):
    """`pybabel extract` over the code finds exactly the messages of the catalogs: after changing a
    message in the code, run `make translations` and translate what it adds."""
    extracted = extract(tmp_path)
    code = {(m.context, m.id) for m in extracted if m.id}
    for language in LANGUAGES:
        held = {(m.context, m.id) for m in messages(language)}
        assert code - held == set(), f"{language}: not in the catalog (run make translations)"
        assert held - code == set(), f"{language}: no longer in the code (run make translations)"
    # and every message with a placeholder, a plural or a context tells the translator what it is
    for message in extracted:
        if not message.id:
            continue
        unclear = any(placeholders(text) for text in forms(message.id)) or isinstance(message.id, tuple)
        if unclear:
            assert message.auto_comments, f"no translator comment for {message.id!r}"


def test_the_mo_files_are_compiled_when_missing_or_older_than_the_po(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogs, "LOCALE_DIR", tmp_path)
    po = tmp_path / "fr" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Language: fr\\n"\n\nmsgid "Save"\nmsgstr "Enregistrer"\n', encoding="utf-8")
    catalogs.compile_catalogs()
    mo = po.with_suffix(".mo")
    assert mo.is_file()
    po.write_text(po.read_text(encoding="utf-8").replace("Enregistrer", "Garder"), encoding="utf-8")
    earlier = po.stat().st_mtime - 5
    os.utime(mo, (earlier, earlier))  # the .po was edited after the last compile
    monkeypatch.setattr(catalogs, "_cache", {})
    assert catalogs.translations("fr").gettext("Save") == "Garder"
    assert b"Garder" in mo.read_bytes()


@pytest.mark.parametrize(
    "language,when",
    [
        ("en", "18 June 2019"),
        ("fr", "18 juin 2019"),
        ("es", "18 de junio de 2019"),
        ("ru", "18 июня 2019\u202fг."),  # CLDR: a narrow no-break space before г.
        ("ar", "18 يونيو 2019"),
        ("zh", "2019年6月18日"),
    ],
)
def test_dates_are_cldrs_in_the_members_language(language, when):
    assert i18n.translator(language).format_date(date(2019, 6, 18)) == when


LINK = (
    "The link works for %(num)d day. If you did not ask to register, ignore this email: nothing will happen.",
    "The link works for %(num)d days. If you did not ask to register, ignore this email: nothing will happen.",
)


@pytest.mark.parametrize(
    "language,counts",
    [
        ("en", {1: "1 day.", 7: "7 days."}),
        ("ru", {1: "1 день.", 3: "3 дня.", 7: "7 дней.", 11: "11 дней.", 21: "21 день.", 22: "22 дня."}),
        ("ar", {0: "0 يوم.", 1: "يوم واحد.", 2: "يومين.", 7: "7 أيام.", 11: "11 يومًا.", 100: "100 يوم."}),
        ("fr", {1: "1 jour.", 7: "7 jours."}),
        ("zh", {1: "1 天内有效", 7: "7 天内有效"}),
    ],
)
def test_counts_follow_cldr_plural_rules(language, counts):
    t = i18n.translator(language)
    for count, words in counts.items():
        assert words in t.ngettext(*LINK, count), (language, count, t.ngettext(*LINK, count))


def test_the_postal_address_is_the_setting_and_whos_own_is_translated():
    assert next(f.default for f in fields(Settings) if f.name == "postal_address") == DEFAULT_POSTAL_ADDRESS
    french = i18n.translator("fr")
    assert (
        postal_address(Settings(), french)
        == "Organisation mondiale de la Santé, Avenue Appia 20, 1211 Genève 27, Suisse"
    )
    elsewhere = Settings(postal_address="WHO Regional Office, Copenhagen")
    assert postal_address(elsewhere, french) == "WHO Regional Office, Copenhagen"
    assert "Avenue Appia 20" in catalogs.translations("en").gettext(DEFAULT_POSTAL_ADDRESS)


def test_the_pseudo_locale_is_longer_accented_and_keeps_placeholders():
    text = "Join the %(pod)s learning pod"
    shown = pseudo(text)
    assert len(shown) >= len(text) * GROWTH - 1 and "%(pod)s" in shown and shown != text
    assert not re.search(r"[a-z]{3}", PLACEHOLDER.sub("", shown).replace("~", ""))  # every word accented
    translations = pseudo_translations()
    assert translations.gettext("Save").startswith("[Š")
    assert translations.ngettext(*LINK, 7) % {"num": 7} != LINK[1] % {"num": 7}


def test_another_domain_reads_its_own_catalog_and_falls_back_to_english(tmp_path, monkeypatch):
    """The team console will be the `console` domain: its own .po beside messages.po; until then, English."""
    assert i18n.translator("fr", domain="console").gettext("Campaigns") == "Campaigns"
    monkeypatch.setattr(catalogs, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(catalogs, "_cache", {})
    po = tmp_path / "fr" / "LC_MESSAGES" / "console.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Language: fr\\n"\n\nmsgid "Campaigns"\nmsgstr "Campagnes"\n', encoding="utf-8")
    assert i18n.translator("fr", domain="console").gettext("Campaigns") == "Campagnes"
    assert i18n.translator("fr").gettext("Campaigns") == "Campaigns"  # not a member-facing message
