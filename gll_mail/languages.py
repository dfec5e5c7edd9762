"""The six WHO languages, the only ones gll-mail speaks."""

from __future__ import annotations

from gll_mail.errors import GllMailError

DEFAULT_LANGUAGE = "en"

LANGUAGES: dict[str, dict[str, str]] = {
    "ar": {"english": "Arabic", "native": "العربية", "dir": "rtl"},
    "zh": {"english": "Chinese", "native": "中文", "dir": "ltr"},
    "en": {"english": "English", "native": "English", "dir": "ltr"},
    "fr": {"english": "French", "native": "Français", "dir": "ltr"},
    "ru": {"english": "Russian", "native": "Русский", "dir": "ltr"},
    "es": {"english": "Spanish", "native": "Español", "dir": "ltr"},
}

_ALIASES = {
    **{code: code for code in LANGUAGES},
    **{info["english"].lower(): code for code, info in LANGUAGES.items()},
    **{info["native"].lower(): code for code, info in LANGUAGES.items()},
    "español": "es",
    "espanol": "es",
    "francais": "fr",
    "chinese (simplified)": "zh",
}


class UnknownLanguage(GllMailError, ValueError):
    pass


def normalize_language(value: str | None) -> str:
    """``'FR'``, ``'fr-CH'``, ``'French'`` or ``'Français'`` → ``'fr'``; empty → English."""
    raw = (value or "").strip().lower()
    if not raw:
        return DEFAULT_LANGUAGE
    if raw in _ALIASES:
        return _ALIASES[raw]
    base = raw.replace("_", "-").split("-")[0]
    if base in LANGUAGES:
        return base
    raise UnknownLanguage(f"unknown language {value!r} (use one of {', '.join(LANGUAGES)})")


# BCP 47 tags where the bare code is not precise enough: our Chinese is written in simplified script
_TAGS = {"zh": "zh-Hans"}


def language_tag(code: str) -> str:
    """The tag to mark text with (``lang``, ``Content-Language``): ``zh`` → ``zh-Hans``."""
    return _TAGS.get(code, code)


def text_direction(code: str) -> str:
    return LANGUAGES.get(code, LANGUAGES[DEFAULT_LANGUAGE])["dir"]
