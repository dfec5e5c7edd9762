"""Campaign sources: ``campaigns/SLUG.md`` (English, the base) and ``campaigns/SLUG.xx.md`` variants.

Each file is YAML front matter between ``---`` lines, then the Markdown body. The base file holds
every campaign-wide key; a variant may only set its own ``subject`` and ``preheader``, and
``translation_of``: the hash of the English text it translates (see ``campaigns/translations.py``). Errors name
the file and line so an author can jump straight to the problem.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES
from gll_mail.settings import Settings

KINDS = ("announcement", "report-release", "event", "corrigendum")
DEFAULT_TEMPLATE = {kind: kind for kind in KINDS}
AUDIENCE_KEYS = ("all", "topics", "pods", "registered", "recipients_of")
BASE_KEYS = {
    "slug",
    "kind",
    "subject",
    "preheader",
    "template",
    "audience",
    "send_at",
    "from",
    "corrects",
    "allow_stale_translations",
}
VARIANT_KEYS = {"subject", "preheader", "slug", "translation_of"}
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
ADDRESS_RE = re.compile(r"^(?:[^<>]*<)?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?$")


class SourceError(GllMailError, ValueError):
    """A campaign source file cannot be read; ``file`` and ``line`` say where."""

    def __init__(self, message: str, *, file: Path | str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = Path(file) if file is not None else None
        self.line = line
        where = ""
        if self.file is not None:
            where = f"{self.file}:{line}: " if line else f"{self.file}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class Variant:
    """One language's file: its subject, preheader and Markdown body."""

    language: str
    path: Path
    subject: str
    preheader: str
    body: str
    body_line: int  # the line number (1-based) of the body's first line in ``path``
    translation_of: str = ""  # a translation: the hash of the English text it was marked as translating


@dataclass(frozen=True)
class CampaignSource:
    slug: str
    kind: str
    subject: str
    preheader: str
    template: str
    audience: dict[str, Any]
    send_at: datetime | None
    from_address: str | None
    corrects: str | None
    path: Path
    variants: dict[str, Variant] = field(default_factory=dict)
    source_hash: str = ""
    allow_stale_translations: bool = False  # production may send translations of an older English text
    audience_defaulted: bool = False  # a corrigendum without an audience: the original's recipients
    problems: tuple[SourceError, ...] = ()  # kept by ``load_source(strict=False)`` for the preflight

    @property
    def base(self) -> Variant:
        return self.variants[DEFAULT_LANGUAGE]

    @property
    def languages(self) -> list[str]:
        return [code for code in LANGUAGES if code in self.variants]

    def variant(self, language: str) -> Variant:
        """The variant in ``language``, falling back to English."""
        return self.variants.get(language) or self.variants[DEFAULT_LANGUAGE]


def split_front_matter(text: str, path: Path) -> tuple[dict, str, int]:
    """(front matter, body, file line of the body's first line) of a campaign file's text."""
    return _split_front_matter(text, path)


def key_line(text: str, key: str) -> int | None:
    """The file line of a front matter ``key``, if the text has one."""
    return _key_line(text, key)


def _split_front_matter(text: str, path: Path) -> tuple[dict, str, int]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise SourceError(
            "the file must start with a `---` line, then YAML front matter, then `---`", file=path, line=1
        )
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            break
    else:
        raise SourceError("front matter is not closed by a `---` line", file=path, line=1)
    raw = "\n".join(lines[1:index])
    try:
        meta = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        line, problem = _yaml_problem(exc)
        raise SourceError(f"front matter is not valid YAML: {problem}", file=path, line=line) from None
    if not isinstance(meta, dict):
        raise SourceError("front matter must be a mapping of keys to values", file=path, line=2)
    body = "\n".join(lines[index + 1 :])
    return meta, body, index + 2


# Errors found where the parser gave up on something opened earlier: the opening is the author's mistake.
_OPENED = ("quoted scalar", "flow sequence", "flow mapping", "simple key", "block scalar")


def _yaml_problem(exc: yaml.YAMLError) -> tuple[int, str]:
    """The file line of a front matter YAML error, and what is wrong.

    The YAML starts on the file's second line (after ``---``), and PyYAML counts lines from 0: its
    line ``n`` is the file's line ``n + 2``. An unclosed quote or bracket is noticed only on a later
    line (or at the end); the line that opened it is the one to fix.
    """
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None) or ""
    mark = getattr(exc, "problem_mark", None)
    opened = getattr(exc, "context_mark", None)
    if opened is not None and any(what in context for what in _OPENED):
        if mark is not None and mark.line != opened.line:
            problem = f"{problem} on line {mark.line + 2}"
        return opened.line + 2, f"{problem} ({context} that starts on this line)"
    return (mark.line + 2 if mark is not None else 1), problem


def _key_line(text: str, key: str) -> int | None:
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.M)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _text(meta: dict, key: str, path: Path, raw: str, *, required: bool = False) -> str:
    value = meta.get(key)
    if value is None:
        if required:
            raise SourceError(f"front matter lacks `{key}`", file=path, line=2)
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise SourceError(f"`{key}` must be text", file=path, line=_key_line(raw, key))
    return str(value).strip()


def _send_at(value: Any, path: Path, raw: str) -> datetime | None:
    if value is None or value == "":
        return None
    line = _key_line(raw, "send_at")
    if isinstance(value, str):
        text, zone = value.strip(), None
        named = re.match(r"^([^\[\]]+)\[([A-Za-z0-9_+\-/]+)\]$", text)  # RFC 9557: ...+01:00[Europe/Zurich]
        if named:
            text = named.group(1)
            try:
                zone = ZoneInfo(named.group(2))
            except (ZoneInfoNotFoundError, ValueError):
                raise SourceError(f"`send_at` names an unknown time zone: {value!r}", file=path, line=line) from None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise SourceError(f"`send_at` is not an ISO 8601 date-time: {value!r}", file=path, line=line) from None
        if zone is not None:
            value = value.replace(tzinfo=zone) if value.tzinfo is None else value
            if value.utcoffset() != value.replace(tzinfo=zone).utcoffset():
                raise SourceError(
                    f"`send_at` has an offset that {zone.key} does not have then: {text}", file=path, line=line
                )
    if not isinstance(value, datetime):
        raise SourceError(
            "`send_at` must be a date-time with a zone, e.g. 2019-06-18T09:00:00+02:00", file=path, line=line
        )
    if value.tzinfo is None:
        raise SourceError("`send_at` needs a time zone, e.g. 2019-06-18T09:00:00+02:00 or ...Z", file=path, line=line)
    return value.astimezone(UTC)


def _audience(value: Any, path: Path, raw: str) -> dict[str, Any]:
    line = _key_line(raw, "audience")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SourceError(
            "`audience` must be a mapping, e.g. `audience: {topics: [announcements]}`", file=path, line=line
        )
    unknown = sorted(set(value) - set(AUDIENCE_KEYS))
    if unknown:
        raise SourceError(
            f"unknown audience key(s) {', '.join(unknown)} (use {', '.join(AUDIENCE_KEYS)})", file=path, line=line
        )
    spec: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("all", "registered"):
            if not isinstance(item, bool):
                raise SourceError(f"audience `{key}` must be true or false", file=path, line=line)
            if key == "all" and not item:
                raise SourceError("audience `all: false` selects nobody; remove it or say true", file=path, line=line)
            spec[key] = item
        elif key in ("topics", "pods"):
            items = [item] if isinstance(item, str) else item
            if not isinstance(items, list) or not items or not all(isinstance(s, str) and s for s in items):
                raise SourceError(f"audience `{key}` must be a non-empty list of slugs", file=path, line=line)
            spec[key] = [s.strip() for s in items]
        else:
            if not isinstance(item, str) or not SLUG_RE.match(item):
                raise SourceError("audience `recipients_of` must be a campaign slug", file=path, line=line)
            spec[key] = item
    return spec


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read the file: {exc.strerror}", file=path) from None
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError("the file is not UTF-8 text", file=path, line=line) from None


def variant_paths(path: Path) -> dict[str, Path]:
    """The language variant files next to the base file ``SLUG.md``."""
    stem = path.name[: -len(".md")]
    found = {}
    for code in LANGUAGES:
        if code == DEFAULT_LANGUAGE:
            continue
        candidate = path.with_name(f"{stem}.{code}.md")
        if candidate.is_file():
            found[code] = candidate
    return found


def base_path(path: Path) -> Path:
    """``x/SLUG.fr.md`` → ``x/SLUG.md`` (and ``SLUG.en.md`` → ``SLUG.md`` when that is the base)."""
    parts = path.name.split(".")
    if len(parts) == 3 and parts[2] == "md" and parts[1] in LANGUAGES:
        return path.with_name(f"{parts[0]}.md")
    return path


def load_source(path: Path, *, strict: bool = True) -> CampaignSource:
    """Read a campaign (the English base file and every language variant next to it).

    A slug that does not match the file name raises :class:`SourceError`, unless ``strict`` is false:
    then the campaign is read under the file's name and the problem is kept in ``problems``, so the
    preflight reports it with every other one.
    """
    path = base_path(Path(path))
    problems: list[SourceError] = []

    def problem(error: SourceError) -> None:
        if strict:
            raise error
        problems.append(error)

    if path.suffix != ".md":
        raise SourceError("a campaign source is a Markdown file named SLUG.md", file=path)
    raw = _read(path)
    meta, body, body_line = _split_front_matter(raw, path)
    unknown = sorted(set(meta) - BASE_KEYS)
    if unknown:
        raise SourceError(
            f"unknown front matter key(s): {', '.join(unknown)} (known: {', '.join(sorted(BASE_KEYS))})",
            file=path,
            line=_key_line(raw, unknown[0]),
        )

    file_slug = path.name[: -len(".md")]
    slug = _text(meta, "slug", path, raw) or file_slug
    if not SLUG_RE.match(slug):
        raise SourceError(
            f"invalid slug {slug!r}: lowercase letters, digits and dashes", file=path, line=_key_line(raw, "slug")
        )
    if slug != file_slug:
        mismatch = SourceError(
            f"slug {slug!r} must match the file name {path.name!r}", file=path, line=_key_line(raw, "slug")
        )
        if not SLUG_RE.match(file_slug):  # the file's name cannot stand in for the slug
            raise mismatch
        problem(mismatch)
        slug = file_slug
    kind = _text(meta, "kind", path, raw) or "announcement"
    if kind not in KINDS:
        raise SourceError(f"unknown kind {kind!r} (use {', '.join(KINDS)})", file=path, line=_key_line(raw, "kind"))
    template = _text(meta, "template", path, raw) or DEFAULT_TEMPLATE[kind]
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", template):
        raise SourceError(
            f"invalid template name {template!r} (a layout in templates/emails/, no suffix)",
            file=path,
            line=_key_line(raw, "template"),
        )
    corrects = _text(meta, "corrects", path, raw) or None
    if kind == "corrigendum" and not corrects:
        raise SourceError("a corrigendum must name the campaign it corrects: `corrects: SLUG`", file=path, line=2)
    if corrects and kind != "corrigendum":
        raise SourceError("`corrects` is only for `kind: corrigendum`", file=path, line=_key_line(raw, "corrects"))
    if corrects and not SLUG_RE.match(corrects):
        raise SourceError(
            f"`corrects` must be a campaign slug, not {corrects!r}", file=path, line=_key_line(raw, "corrects")
        )
    audience = _audience(meta.get("audience"), path, raw)
    defaulted = False
    if not audience and corrects:
        audience, defaulted = {"recipients_of": corrects}, True
    allow_stale = meta.get("allow_stale_translations", False)
    if not isinstance(allow_stale, bool):
        raise SourceError(
            "`allow_stale_translations` must be true or false",
            file=path,
            line=_key_line(raw, "allow_stale_translations"),
        )
    from_address = _text(meta, "from", path, raw) or None
    if from_address and not ADDRESS_RE.match(from_address):
        raise SourceError(f"`from` is not an email address: {from_address!r}", file=path, line=_key_line(raw, "from"))

    base = Variant(
        language=DEFAULT_LANGUAGE,
        path=path,
        subject=_text(meta, "subject", path, raw),
        preheader=_text(meta, "preheader", path, raw),
        body=body,
        body_line=body_line,
    )
    variants = {DEFAULT_LANGUAGE: base}
    digest = hashlib.sha256(raw.encode())
    for code, vpath in variant_paths(path).items():
        vraw = _read(vpath)
        vmeta, vbody, vline = _split_front_matter(vraw, vpath)
        extra = sorted(set(vmeta) - VARIANT_KEYS)
        if extra:
            raise SourceError(
                f"a language variant may only set subject, preheader and translation_of; "
                f"set {', '.join(extra)} in {path.name}",
                file=vpath,
                line=_key_line(vraw, extra[0]),
            )
        if vmeta.get("slug") not in (None, slug):
            problem(SourceError(f"slug must be {slug!r} like {path.name}", file=vpath, line=_key_line(vraw, "slug")))
        variants[code] = Variant(
            language=code,
            path=vpath,
            subject=_text(vmeta, "subject", vpath, vraw),
            preheader=_text(vmeta, "preheader", vpath, vraw),
            body=vbody,
            body_line=vline,
            translation_of=_text(vmeta, "translation_of", vpath, vraw),
        )
        digest.update(f"\0{code}\0".encode() + vraw.encode())

    return CampaignSource(
        slug=slug,
        kind=kind,
        subject=base.subject,
        preheader=base.preheader,
        template=template,
        audience=audience,
        send_at=_send_at(meta.get("send_at"), path, raw),
        from_address=from_address,
        corrects=corrects,
        path=path,
        variants=variants,
        source_hash=digest.hexdigest(),
        allow_stale_translations=allow_stale,
        audience_defaulted=defaulted,
        problems=tuple(problems),
    )


def find_source(settings: Settings, slug_or_path: str | Path, *, strict: bool = True) -> CampaignSource:
    """A campaign by path (``campaigns/x.md``, a variant file works too) or by slug in the campaigns
    folder; ``strict`` as for :func:`load_source`."""
    candidate = Path(slug_or_path)
    if candidate.suffix == ".md" or candidate.exists():
        if not candidate.exists():
            raise SourceError("no such campaign file", file=candidate)
        return load_source(candidate, strict=strict)
    slug = str(slug_or_path)
    path = settings.campaigns_dir / f"{slug}.md"
    if not path.is_file():
        known = sorted(p.name[:-3] for p in settings.campaigns_dir.glob("*.md") if p.name.count(".") == 1)
        hint = f" (known: {', '.join(known)})" if known else ""
        raise SourceError(f"no campaign {slug!r} in {settings.campaigns_dir}{hint}")
    return load_source(path, strict=strict)


def list_sources(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.campaigns_dir.glob("*.md") if p.name.count(".") == 1)
