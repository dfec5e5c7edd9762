"""Campaign revisions: the files in ``campaigns/`` stay the truth, the database keeps their history.

``save_source`` is how the console writes a campaign: every file atomically (a temporary file, then
``os.replace``), refused with :class:`ConflictError` when the files on disk are no longer those the
editor loaded. Every save keeps a :class:`~gll_mail.models.CampaignRevision` (author, time, content
hash, the full text of every file). A campaign written by hand is the same thing: the next time it
is loaded, saved or sent for approval, :func:`current_revision` snapshots what is on disk when its
content hash is new (author "", "written on disk"). A new content hash voids the approvals of the
old one (each voiding goes to the audit log).
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import defer
from sqlmodel import Session, select

from gll_mail.campaigns.content_hash import (
    file_digests,
    files_hash,
    hash_inputs,
    hash_of,
    source_files,
)
from gll_mail.campaigns.sources import SLUG_RE, SourceError, load_source
from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES
from gll_mail.models import AdminUser, Approval, CampaignRevision, utcnow
from gll_mail.settings import Settings
from gll_mail.team import audit
from gll_mail.team.roles import require

ON_DISK = ""  # the author of a revision found on disk (written by hand, or by git)


class ConflictError(GllMailError):
    """The files on disk changed since the editor loaded them; nothing was written."""

    def __init__(self, message: str, *, current_hash: str, files: dict[str, str]) -> None:
        super().__init__(message)
        self.current_hash = current_hash
        self.files = files  # language → text now on disk, for the editor to show beside its own


@dataclass(frozen=True)
class LoadedFiles:
    """What an editor opens: every language's full text and the hash to send back with the save."""

    slug: str
    files: dict[str, str]
    files_hash: str


def base_file(settings: Settings, slug: str) -> Path:
    if not SLUG_RE.match(slug or ""):
        raise GllMailError(f"invalid campaign slug {slug!r}: lowercase letters, digits and dashes")
    return settings.campaigns_dir / f"{slug}.md"


def _text(data: bytes) -> str:
    return data.decode("utf-8-sig", "replace").replace("\r\n", "\n")


def _disk(settings: Settings, slug: str) -> tuple[dict[str, bytes], dict[str, str]]:
    """(file name → bytes, language → text) of the campaign as it is on disk now."""
    raw: dict[str, bytes] = {}
    texts: dict[str, str] = {}
    for language, path in source_files(base_file(settings, slug)).items():
        data = path.read_bytes()
        raw[path.name] = data
        texts[language] = _text(data)
    return raw, texts


def load_files(settings: Settings, slug: str) -> LoadedFiles:
    """The campaign's files for an editor; an unknown slug gives no files (a new campaign)."""
    raw, texts = _disk(settings, slug)
    return LoadedFiles(slug, texts, files_hash(raw))


def _inputs(settings: Settings, session: Session, slug: str) -> dict[str, Any]:
    """What the content hash covers; a source that does not load (a draft with an error) is hashed
    by its files alone, with the error, so every state on disk still has a revision."""
    try:
        source = load_source(base_file(settings, slug))
    except SourceError as exc:
        return {"files": file_digests(base_file(settings, slug)), "unreadable": exc.message}
    return hash_inputs(settings, session, source)


def latest_revision(session: Session, slug: str) -> CampaignRevision | None:
    return session.exec(
        select(CampaignRevision).where(CampaignRevision.slug == slug).order_by(CampaignRevision.id.desc()).limit(1)
    ).first()


def revisions(session: Session, slug: str) -> list[CampaignRevision]:
    return list(
        session.exec(select(CampaignRevision).where(CampaignRevision.slug == slug).order_by(CampaignRevision.id))
    )


def revisions_page(
    session: Session, slug: str, *, before: int | None = None, limit: int = 50
) -> tuple[list[CampaignRevision], bool]:
    """A page of the campaign's revisions, newest first, older than revision ``before`` (a cursor),
    without their files (loaded when read); and whether older ones remain."""
    query = select(CampaignRevision).where(CampaignRevision.slug == slug)
    if before is not None:
        query = query.where(CampaignRevision.id < before)
    query = query.options(defer(CampaignRevision.files), defer(CampaignRevision.inputs))
    found = list(session.exec(query.order_by(CampaignRevision.id.desc()).limit(limit + 1)))
    return found[:limit], len(found) > limit


def get_revision(session: Session, slug: str, revision_id: int) -> CampaignRevision:
    revision = session.get(CampaignRevision, revision_id)
    if revision is None or revision.slug != slug:
        raise GllMailError(f"campaign {slug} has no revision {revision_id} (see gll-mail campaign revisions {slug})")
    return revision


def current_revision(
    settings: Settings,
    session: Session,
    slug: str,
    *,
    author: AdminUser | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> CampaignRevision:
    """The revision matching the disk now; a new one (by ``author``, else "on disk") when its content
    hash is new, which voids the approvals and requests of every other hash."""
    if not base_file(settings, slug).is_file():
        raise GllMailError(f"no campaign {slug!r} in {settings.campaigns_dir}")
    inputs = _inputs(settings, session, slug)
    content = hash_of(inputs)
    latest = latest_revision(session, slug)
    if latest is not None and latest.content_hash == content:
        return latest
    _raw, texts = _disk(settings, slug)
    revision = CampaignRevision(
        slug=slug,
        created_at=clock(),
        author_id=author.id if author else None,
        author=author.username if author else ON_DISK,
        content_hash=content,
        files=texts,
        inputs=inputs,
    )
    session.add(revision)
    session.flush()
    _void_other_hashes(session, slug, content, clock)
    return revision


def _void_other_hashes(session: Session, slug: str, content: str, clock: Callable[[], datetime]) -> None:
    stale = session.exec(
        select(Approval).where(Approval.slug == slug, Approval.voided_at.is_(None), Approval.content_hash != content)
    ).all()
    for approval in stale:
        approval.voided_at = clock()
        approval.void_reason = f"the content changed ({approval.content_hash[:8]} → {content[:8]})"
        session.add(approval)
        audit.record(
            session,
            audit.SYSTEM,
            "campaign.approval-voided",
            object_type="campaign",
            object_id=slug,
            hash_before=approval.content_hash,
            hash_after=content,
            clock=clock,
            note=approval.void_reason,
            details={"approval_id": approval.id, "decision": approval.decision, "by": approval.username},
        )
    session.flush()


def _atomic_write(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` (synced to disk); the caller renames it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _normalised(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def save_source(
    settings: Settings,
    session: Session,
    user: AdminUser,
    slug: str,
    files: dict[str, str | None],
    expected_hash: str | None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> CampaignRevision:
    """Write the campaign's files and keep a revision by ``user``.

    ``files`` maps a language to the full text of its file (front matter included); a language
    mapped to None or "" removes that translation; languages not given are left as they are.
    ``expected_hash`` is the ``files_hash`` (or content hash) the editor loaded; None means "a new
    campaign". When the disk no longer matches it, :class:`ConflictError` and nothing is written.
    """
    require(user, "campaign.edit")
    base = base_file(settings, slug)
    unknown = sorted(set(files) - set(LANGUAGES))
    if unknown:
        raise GllMailError(f"unknown language(s) {', '.join(unknown)} (use {', '.join(LANGUAGES)})")
    if DEFAULT_LANGUAGE in files and not files[DEFAULT_LANGUAGE]:
        raise GllMailError(f"the English file {base.name} is the campaign's base; it cannot be removed")
    raw, texts = _disk(settings, slug)
    exists = DEFAULT_LANGUAGE in texts
    if not exists and not files.get(DEFAULT_LANGUAGE):
        raise GllMailError(f"a new campaign needs its English file {base.name} (front matter and body)")
    before = current_revision(settings, session, slug, clock=clock) if exists else None
    on_disk = files_hash(raw)
    if expected_hash is None:
        if raw:
            raise ConflictError(
                f"campaign {slug} exists already in {settings.campaigns_dir}; open it to edit it",
                current_hash=on_disk,
                files=texts,
            )
    elif expected_hash not in (on_disk, before.content_hash if before else None):
        raise ConflictError(
            f"{base.name} or its translations changed on disk since you opened them; "
            f"nothing was saved: compare with the files now on disk, then save again",
            current_hash=on_disk,
            files=texts,
        )
    base.parent.mkdir(parents=True, exist_ok=True)
    writes: list[tuple[Path, Path]] = []
    removals: list[Path] = []
    try:
        for language, text in files.items():
            path = base if language == DEFAULT_LANGUAGE else base.with_name(f"{slug}.{language}.md")
            if text:
                writes.append((_atomic_write(path, _normalised(text)), path))
            elif path.exists():
                removals.append(path)
        for tmp, path in writes:
            os.replace(tmp, path)
    finally:
        for tmp, _path in writes:
            tmp.unlink(missing_ok=True)
    for path in removals:
        path.unlink(missing_ok=True)
    after = current_revision(settings, session, slug, author=user, clock=clock)
    audit.record(
        session,
        user,
        "campaign.save",
        object_type="campaign",
        object_id=slug,
        clock=clock,
        hash_before=before.content_hash if before else "",
        hash_after=after.content_hash,
        details={
            "revision": after.id,
            "languages": sorted(k for k, v in files.items() if v),
            "removed": sorted(k for k, v in files.items() if not v),
        },
    )
    return after


def _file_name(slug: str, language: str) -> str:
    return f"{slug}.md" if language == DEFAULT_LANGUAGE else f"{slug}.{language}.md"


def _json_lines(value: Any) -> list[str]:
    return [line + "\n" for line in json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False).split("\n")]


def diff(rev_a: CampaignRevision, rev_b: CampaignRevision) -> dict[str, str]:
    """A unified diff per changed file from ``rev_a`` to ``rev_b`` (file name → diff text), plus
    ``layout`` and ``links`` entries when a layout file or a link's target changed."""
    slug = rev_b.slug
    out: dict[str, str] = {}
    order = [code for code in LANGUAGES if code in rev_a.files or code in rev_b.files]
    for language in order:
        old, new = rev_a.files.get(language), rev_b.files.get(language)
        if old == new:
            continue
        name = _file_name(slug, language)
        out[name] = "".join(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"{name} (revision {rev_a.id})" if old is not None else "/dev/null",
                tofile=f"{name} (revision {rev_b.id})" if new is not None else "/dev/null",
            )
        )
    for label, keys in (("layout", ("layouts",)), ("links", ("resources", "pods"))):
        old = {k: rev_a.inputs.get(k) for k in keys}
        new = {k: rev_b.inputs.get(k) for k in keys}
        if old != new:
            out[label] = "".join(
                difflib.unified_diff(
                    _json_lines(old),
                    _json_lines(new),
                    fromfile=f"{label} (revision {rev_a.id})",
                    tofile=f"{label} (revision {rev_b.id})",
                )
            )
    return out
