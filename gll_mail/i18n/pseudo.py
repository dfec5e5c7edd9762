"""The pseudo-locale: every message about 40 % longer and accented, placeholders untouched.

Rendering the pages and emails with it (``tests/test_translations.py``) shows what a longer language
would clip or push out of a phone screen, and any word that is not in a catalog (it stays plain).
"""

from __future__ import annotations

import io
import re

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from gll_mail.i18n.catalogs import DOMAIN, po_path

_ACCENTS = str.maketrans(
    "abcdeghiklmnoprstuwyzABCDEGHIKLMNOPRSTUWYZ",
    "àƀçđéĝĥîķľɱñöþŕšţûŵýžÀƁÇĐÉĜĤÎĶĽṀÑÖÞŔŠŢÛŴÝŽ",
)
_PLACEHOLDER = re.compile(r"(%\([a-z_]+\)[sd]|%%)")
_VOWELS = re.compile(r"([aeiouyAEIOUY])")
GROWTH = 1.4


def pseudo(text: str) -> str:
    """``Register`` → ``[Ŕéé ĝîîšţéŕ ~~]``: vowels doubled, letters accented, padded to 40 % longer."""
    parts = _PLACEHOLDER.split(text)
    out = "".join(
        part if _PLACEHOLDER.fullmatch(part) else _VOWELS.sub(r"\1\1", part).translate(_ACCENTS) for part in parts
    )
    missing = round(len(text) * GROWTH) - len(out) - 2
    return "[" + out + (" " + "~" * (missing - 1) if missing > 1 else "") + "]"


def pseudo_translations(domain: str = DOMAIN) -> Translations:
    """The English catalog of ``domain`` with every message pseudo-translated."""
    with po_path("en", domain).open("rb") as handle:
        english = read_po(handle, locale="en", domain=domain)
    catalog = Catalog(locale="en", domain=domain)
    for message in english:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            string = tuple(pseudo(form) for form in message.id)
        else:
            string = pseudo(message.id)
        catalog.add(message.id, string, context=message.context, flags=message.flags)
    out = io.BytesIO()
    write_mo(out, catalog)
    out.seek(0)
    return Translations(out, domain=domain)
