"""One language's words for code without Flask: ``t = translator("fr")``, then ``t.gettext(...)``.

``pybabel extract`` finds ``t.gettext``, ``t.ngettext`` and ``t.pgettext`` calls by their names;
placeholders are Python's named ``%(name)s``, filled by keyword (``t.gettext("Dear %(name)s,",
name=...)``). Plurals follow the catalog's CLDR rule; dates are CLDR's, in the language's long form.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime

from babel.dates import format_date as cldr_date
from babel.support import NullTranslations, Translations

from gll_mail.i18n.catalogs import DOMAIN, translations
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES
from gll_mail.settings import Settings

# CLDR's plain "en" writes "June 18, 2019"; WHO English puts the day first, as before
_DATE_LOCALES = {"en": "en_GB"}


@dataclass(frozen=True)
class Translator:
    language: str
    catalog: Translations | NullTranslations

    def gettext(self, message: str, **values) -> str:
        text = self.catalog.gettext(message)
        return text % values if values else text

    def pgettext(self, context: str, message: str, **values) -> str:
        text = self.catalog.pgettext(context, message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, num: int, **values) -> str:
        """The form of the count ``num`` (CLDR: 1 form in Chinese, 2 in English, 3 in Russian, 6 in
        Arabic), with ``%(num)d`` filled in."""
        return self.catalog.ngettext(singular, plural, num) % {"num": num, **values}

    def format_date(self, value: date | datetime | None) -> str:
        """``18 June 2019``, ``18 juin 2019``, ``2019年6月18日`` … (empty for ``None``)."""
        if value is None:
            return ""
        return cldr_date(value, "long", locale=_DATE_LOCALES.get(self.language, self.language))


def translator(language: str | None, domain: str = DOMAIN) -> Translator:
    code = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return Translator(code, translations(code, domain))


DEFAULT_POSTAL_ADDRESS = next(f.default for f in fields(Settings) if f.name == "postal_address")


def postal_address(settings: Settings, t: Translator) -> str:
    """GLL_MAIL_POSTAL_ADDRESS as set; WHO's own address (the default) in the member's language."""
    if settings.postal_address != DEFAULT_POSTAL_ADDRESS:
        return settings.postal_address
    # Translators: WHO's postal address, in the footer of every member page. Country and city names
    # in your language; keep the street ("Avenue Appia 20") and the postcode as they are.
    return t.gettext("World Health Organization, Avenue Appia 20, 1211 Geneva 27, Switzerland")
