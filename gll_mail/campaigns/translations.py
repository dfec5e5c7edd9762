"""Translations that know when they are stale.

The **English text** of a campaign is what a translator translates: the lines ``subject: …`` and
``preheader: …`` (the values as read from the front matter, so quoting does not count), then the
Markdown body without its leading and trailing blank lines. Its **hash** is the first 16 hex digits
of the SHA-256 of those lines joined by newlines (UTF-8). The other front matter keys (audience,
send time, layout …) are not translated and are not in it.

A translation ``SLUG.xx.md`` records the hash of the English text it translates in its front matter,
``translation_of: …``, written by :func:`mark` (``gll-mail campaign translations SLUG --mark xx``
or the console) through :func:`~gll_mail.campaigns.revisions.save_source`, so the English text of
that hash is kept in a revision. When the English text changes afterwards, the translation is
stale: the revision holding the marked text gives the changed lines and the diff. A hash no stored
revision holds (a file marked by hand, another server) is still stale, only without the diff.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlmodel import Session, select

from gll_mail.campaigns.revisions import base_file, current_revision, load_files, save_source
from gll_mail.campaigns.sources import CampaignSource, SourceError, key_line, split_front_matter
from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES
from gll_mail.models import AdminUser, CampaignRevision, utcnow
from gll_mail.settings import Settings
from gll_mail.team import audit
from gll_mail.team.roles import require

HASH_DIGITS = 16
MARK_KEY = "translation_of"
UP_TO_DATE, STALE, MISSING, UNMARKED = "up to date", "stale", "missing", "unmarked"


@dataclass(frozen=True)
class EnglishText:
    """The English text's lines, each with its line number in the English file."""

    lines: tuple[str, ...]
    numbers: tuple[int, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.lines).encode("utf-8")).hexdigest()[:HASH_DIGITS]


def english_text(raw: str) -> EnglishText | None:
    """The English text of an English file's full text; None when its front matter does not read."""
    raw = raw.replace("\r\n", "\n").removeprefix("\ufeff")
    try:
        meta, body, body_line = split_front_matter(raw, Path("english.md"))
    except SourceError:
        return None
    lines, numbers = [], []
    for key in ("subject", "preheader"):
        value = meta.get(key)
        lines.append(f"{key}: {'' if value is None else str(value).strip()}")
        numbers.append(key_line(raw, key) or 1)
    body_lines = body.split("\n")
    first = next((i for i, line in enumerate(body_lines) if line.strip()), len(body_lines))
    last = max((i for i, line in enumerate(body_lines) if line.strip()), default=first - 1)
    for index in range(first, last + 1):
        lines.append(body_lines[index])
        numbers.append(body_line + index)
    return EnglishText(tuple(lines), tuple(numbers))


@dataclass(frozen=True)
class TranslationStatus:
    """Where one language's translation stands against the English text now."""

    language: str
    state: str  # UP_TO_DATE, STALE, MISSING or UNMARKED
    path: Path | None = None
    marked: str = ""  # the hash in its ``translation_of``
    revision: int | None = None  # the revision holding the marked English text, when one does
    changed: tuple[tuple[int, int], ...] = ()  # English file lines changed since (first, last)
    diff: str = ""  # unified diff of the English text from the marked one to now
    recipients: int = 0  # subscribers of the audience in this language

    @property
    def lines(self) -> str:
        """``lines 12–15`` / ``line 4`` / ``lines 4, 12–15``."""
        parts = [f"{a}–{b}" if b > a else str(a) for a, b in self.changed]
        single = len(self.changed) == 1 and self.changed[0][0] == self.changed[0][1]
        return ("line " if single else "lines ") + ", ".join(parts)

    def describe(self) -> str:
        if self.state == UP_TO_DATE:
            return f"up to date (English text {self.marked})"
        if self.state == MISSING:
            return "missing: these recipients get the English text"
        if self.state == UNMARKED:
            return "unmarked: it does not say which English text it translates"
        if self.revision is None:
            return f"stale: it translates English text {self.marked}, which no stored revision holds (no diff)"
        return f"stale: the English text changed in {self.lines} (since revision {self.revision})"


_digests: dict[tuple[str, int], str] = {}  # (database, revision id) → its English text's hash; revisions never change


def marked_revision(session: Session, slug: str, digest: str) -> CampaignRevision | None:
    """The newest revision whose English text has ``digest``; each revision's files are read once
    per process (its hash is kept), so a long history costs one query of ids afterwards."""
    if not digest:
        return None
    bind = str(session.get_bind().url)
    ids = session.exec(
        select(CampaignRevision.id).where(CampaignRevision.slug == slug).order_by(CampaignRevision.id.desc())
    ).all()
    for revision_id in ids:
        key = (bind, revision_id)
        if key not in _digests:
            if len(_digests) > 20_000:
                _digests.clear()
            revision = session.get(CampaignRevision, revision_id)
            text = english_text((revision.files or {}).get(DEFAULT_LANGUAGE) or "") if revision else None
            _digests[key] = text.digest if text else ""
        if _digests[key] == digest:
            return session.get(CampaignRevision, revision_id)
    return None


def changed_ranges(old: EnglishText, new: EnglishText) -> tuple[tuple[int, int], ...]:
    """The English file lines (now) that differ from ``old``; a removal names the line after it."""
    ranges: list[tuple[int, int]] = []
    end = (new.numbers[-1] + 1) if new.numbers else 1
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, old.lines, new.lines, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        first = new.numbers[j1] if j1 < len(new.numbers) else end
        last = new.numbers[j2 - 1] if j2 > j1 else first
        if ranges and first <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(last, ranges[-1][1]))
        else:
            ranges.append((first, last))
    return tuple(ranges)


def unified(old: EnglishText, new: EnglishText, *, name: str, revision: int) -> str:
    """A unified diff of the English text whose hunk headers give the English files' line numbers."""
    out = [f"--- {name} (revision {revision}, as translated)\n", f"+++ {name} (now)\n"]
    matcher = difflib.SequenceMatcher(None, old.lines, new.lines, autojunk=False)
    for group in matcher.get_grouped_opcodes(2):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        start_old = old.numbers[i1] if i1 < len(old.numbers) else (old.numbers[-1] + 1 if old.numbers else 1)
        start_new = new.numbers[j1] if j1 < len(new.numbers) else (new.numbers[-1] + 1 if new.numbers else 1)
        out.append(f"@@ -{start_old},{i2 - i1} +{start_new},{j2 - j1} @@\n")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(f" {line}\n" for line in old.lines[a1:a2])
                continue
            out.extend(f"-{line}\n" for line in old.lines[a1:a2])
            out.extend(f"+{line}\n" for line in new.lines[b1:b2])
    return "".join(out)


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig", "replace").replace("\r\n", "\n")


def statuses(
    session: Session, source: CampaignSource, by_language: dict[str, int] | None = None
) -> list[TranslationStatus]:
    """Every language but English: up to date, stale (with the changed lines and the diff), missing
    or unmarked; with the recipients in that language when ``by_language`` counts them."""
    counts = by_language or {}
    now = english_text(_read(source.path))
    found = []
    for code in LANGUAGES:
        if code == DEFAULT_LANGUAGE:
            continue
        recipients = counts.get(code, 0)
        variant = source.variants.get(code)
        if variant is None:
            found.append(TranslationStatus(code, MISSING, recipients=recipients))
            continue
        marked = variant.translation_of
        if not marked:
            found.append(TranslationStatus(code, UNMARKED, variant.path, recipients=recipients))
            continue
        if now is not None and marked == now.digest:
            found.append(TranslationStatus(code, UP_TO_DATE, variant.path, marked, recipients=recipients))
            continue
        revision = marked_revision(session, source.slug, marked)
        old = english_text(revision.files.get(DEFAULT_LANGUAGE, "")) if revision else None
        if revision is None or old is None or now is None:
            found.append(TranslationStatus(code, STALE, variant.path, marked, recipients=recipients))
            continue
        found.append(
            TranslationStatus(
                code,
                STALE,
                variant.path,
                marked,
                revision=revision.id,
                changed=changed_ranges(old, now),
                diff=unified(old, now, name=source.path.name, revision=revision.id or 0),
                recipients=recipients,
            )
        )
    return found


@dataclass(frozen=True)
class StaleProblem:
    """A preflight problem about a translation (the preflight turns it into its own kind)."""

    severity: str  # "error" or "warning"
    file: Path | None
    line: int | None
    message: str
    detail: str = ""


def problems(settings: Settings, session: Session, source: CampaignSource) -> list[StaleProblem]:
    """Stale translations are warnings, and errors in production unless the campaign says
    ``allow_stale_translations: true`` (itself a warning). A translation never marked is not a
    problem here (campaigns written before marks existed); ``statuses`` and the editor show it."""
    found: list[StaleProblem] = []
    strict = settings.env == "production" and not source.allow_stale_translations
    hint = f"check it, then mark it: gll-mail campaign translations {source.slug} --mark"
    for status in statuses(session, source):
        if status.state != STALE:
            continue
        line = key_line(_read(status.path), MARK_KEY) if status.path else None
        if status.revision is None:
            message = (
                f"{status.language} is stale: it translates English text {status.marked}, which no stored revision "
                f"holds, so the changes cannot be shown; compare with the English file, then {hint} {status.language}"
            )
        else:
            message = f"{status.language} is stale: the English text changed in {status.lines}"
        if strict:
            message += " (production refuses stale translations; or set allow_stale_translations: true)"
        found.append(StaleProblem("error" if strict else "warning", status.path, line or 1, message, status.diff))
    if source.allow_stale_translations:
        found.append(
            StaleProblem(
                "warning",
                source.path,
                key_line(_read(source.path), "allow_stale_translations"),
                "allow_stale_translations: true lets translations of an older English text go out in production",
            )
        )
    return found


_MARK_LINE = re.compile(rf"^{MARK_KEY}\s*:.*$", re.M)


def _with_mark(text: str, digest: str) -> str:
    """The translation's text with ``translation_of: "digest"`` in its front matter (replaced or added)."""
    line = yaml.safe_dump({MARK_KEY: digest}).strip()  # as the console's editor writes it (quoted if need be)
    lines = text.split("\n")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if not lines or lines[0].strip() != "---" or end is None:
        raise GllMailError("the translation's file does not start with front matter between --- lines; fix it first")
    front = "\n".join(lines[1:end])
    if _MARK_LINE.search(front):
        front = _MARK_LINE.sub(line, front, count=1)
    else:
        front = f"{front}\n{line}" if front.strip() else line
    return "\n".join(["---", front, *lines[end:]])


@dataclass(frozen=True)
class Marked:
    language: str
    digest: str
    revision: CampaignRevision
    changed: bool  # False: it was marked as translating this English text already


def mark(
    settings: Settings,
    session: Session,
    user: AdminUser,
    slug: str,
    language: str,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> Marked:
    """Record that the ``language`` translation translates the English text as it is now: an atomic
    save (a revision is kept, approvals of the old content are voided) and an audit entry."""
    require(user, "campaign.edit")
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        others = ", ".join(code for code in LANGUAGES if code != DEFAULT_LANGUAGE)
        raise GllMailError(f"mark a translation: {others}, not {language!r}")
    loaded = load_files(settings, slug)
    if DEFAULT_LANGUAGE not in loaded.files:
        raise GllMailError(f"no campaign {slug!r} in {settings.campaigns_dir}")
    if language not in loaded.files:
        raise GllMailError(f"{slug} has no {language} translation ({base_file(settings, slug).stem}.{language}.md)")
    now = english_text(loaded.files[DEFAULT_LANGUAGE])
    if now is None:
        raise GllMailError(f"the English file {slug}.md does not read; fix its front matter first")
    text = _with_mark(loaded.files[language], now.digest)
    if text == loaded.files[language]:
        return Marked(language, now.digest, current_revision(settings, session, slug, clock=clock), False)
    revision = save_source(settings, session, user, slug, {language: text}, loaded.files_hash, clock=clock)
    audit.record(
        session,
        user,
        "campaign.translation-marked",
        object_type="campaign",
        object_id=slug,
        hash_after=revision.content_hash,
        clock=clock,
        note=f"{language} translates English text {now.digest}",
        details={"language": language, MARK_KEY: now.digest, "revision": revision.id},
    )
    return Marked(language, now.digest, revision, True)
