"""Member-facing words in the six WHO languages: gettext catalogs, CLDR dates and plurals.

The catalogs are ``locale/<language>/LC_MESSAGES/<domain>.po`` beside this file (``messages`` for the
member web pages and every email; a later ``console`` domain can join beside it). Every layer uses them
through :func:`translator` — the web (through Flask-Babel), the email layouts and the confirmation
email — so no area needs Flask to speak a member's language. ``docs/translating.md`` is the
translators' guide.
"""

from __future__ import annotations

from gll_mail.i18n.catalogs import DOMAIN, LOCALE_DIR, compile_catalogs, translations
from gll_mail.i18n.translator import Translator, postal_address, translator

__all__ = ["DOMAIN", "LOCALE_DIR", "Translator", "compile_catalogs", "postal_address", "translations", "translator"]
