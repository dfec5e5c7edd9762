"""Finding, compiling and loading the gettext catalogs.

The ``.po`` files are the source (in git, edited by translators); the ``.mo`` files beside them are
build output. ``make translations`` compiles them, and so does :func:`translations` whenever a ``.mo``
is missing or older than its ``.po`` — a fresh clone, an editable install and the tests need no manual
step. Where the package directory is read-only the catalog is compiled in memory instead.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from gll_mail.languages import LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_cache: dict[tuple[str, str], Translations | NullTranslations] = {}
_lock = threading.Lock()


def po_path(language: str, domain: str = DOMAIN) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


def _mo_bytes(po: Path) -> bytes:
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name, domain=po.stem)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_catalog(po: Path) -> bytes:
    """The compiled ``.mo`` of ``po``, written beside it when missing or stale (atomically: parallel
    test workers may race here), and returned."""
    mo = po.with_suffix(".mo")
    try:
        if mo.stat().st_mtime >= po.stat().st_mtime:
            return mo.read_bytes()
    except FileNotFoundError:
        pass
    data = _mo_bytes(po)
    try:
        fd, tmp = tempfile.mkstemp(dir=po.parent, prefix=".", suffix=".mo")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, mo)
    except OSError:  # a read-only install: keep the compiled catalog in memory only
        pass
    return data


def compile_catalogs(domain: str = DOMAIN) -> list[Path]:
    """Compile every language's catalog of ``domain`` that needs it; the ``.po`` files found."""
    found = sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{domain}.po"))
    for po in found:
        compile_catalog(po)
    return found


def translations(language: str, domain: str = DOMAIN) -> Translations | NullTranslations:
    """The compiled catalog of ``language`` (one of the six; anything else gets English), cached."""
    if language not in LANGUAGES:
        language = "en"
    key = (language, domain)
    found = _cache.get(key)
    if found is not None:
        return found
    with _lock:
        po = po_path(language, domain)
        if po.is_file():
            found = Translations(io.BytesIO(compile_catalog(po)), domain=domain)
        else:
            found = NullTranslations()
        return _cache.setdefault(key, found)


def forget() -> None:
    """Drop the loaded catalogs (after ``make translations`` in a long-lived process, or in tests)."""
    _cache.clear()


def use(language: str, catalog: Translations | NullTranslations, domain: str = DOMAIN) -> None:
    """Serve ``catalog`` for ``language`` from now on (the pseudo-locale check uses this)."""
    _cache[(language, domain)] = catalog
