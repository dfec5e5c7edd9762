"""The campaign editor: front matter as fields, a body per language, autosave, preflight, preview.

Saving goes through :func:`gll_mail.campaigns.revisions.save_source` with the hash the editor
loaded, so a file changed on disk meanwhile is never overwritten (the conflict is shown). The small
script ``static/editor.js`` autosaves as you type (the same form, posted to ``/autosave``), then
shows the preflight's problems beside their lines and reloads the preview; without it, the Save
button does the same with a page load.
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import flash, g, jsonify, redirect, request, url_for

from gll_mail.campaigns import revisions, translations
from gll_mail.campaigns.audience import AudienceError, audience_breakdown, cached_audience_breakdown
from gll_mail.campaigns.preflight import check
from gll_mail.campaigns.records import get_campaign
from gll_mail.campaigns.render import CampaignRenderer, layouts, recipient_for, sample_recipient
from gll_mail.campaigns.sources import KINDS, SourceError, load_source
from gll_mail.catalog import list_pods, list_resources, list_topics
from gll_mail.errors import GllMailError
from gll_mail.languages import DEFAULT_LANGUAGE, LANGUAGES, text_direction
from gll_mail.subscribers import find_by_email
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, message_of, render, with_scripts
from gll_mail.web.console.drafts import files_from_form, parse, send_at_fields, zone_choices
from gll_mail.web.security import check_csrf

bp = blueprint("console_editor")
REVISION_ROWS = 50  # a page of the revisions list
DEVICES = {"desktop": "Desktop (640 px)", "phone": "Phone (390 px)"}


def _language_of(path: Path | None, slug: str) -> str:
    if path is None:
        return DEFAULT_LANGUAGE
    parts = path.name.split(".")
    return parts[1] if len(parts) == 3 and parts[1] in LANGUAGES else DEFAULT_LANGUAGE


def problems(
    settings, session, slug: str, files: dict[str, str], *, counted: dict[str, int] | None = None
) -> tuple[list[dict], int | None]:
    """The preflight's errors and warnings of the files on disk, each placed on its language's
    body line (or on the front matter); and the audience count. ``counted``: the audience by language
    the editor has just counted for the same spec (not counted twice)."""
    body_lines = {code: parse(code, text).body_line for code, text in files.items()}
    found: list[dict] = []

    def place(path, line, message, severity, link_text=None, detail="") -> None:
        language = _language_of(path, slug)
        start = body_lines.get(language, 1)
        body_line = line - start + 1 if line and line >= start else None
        found.append(
            {
                "language": language,
                "line": line,
                "body_line": body_line,
                "where": f"line {body_line}" if body_line else "front matter",
                "message": message + (f" (link “{link_text}”)" if link_text else ""),
                "severity": severity,
                "diff": detail,
            }
        )

    try:
        source = load_source(revisions.base_file(settings, slug), strict=False)
    except SourceError as exc:
        place(exc.file, exc.line, exc.message, "error")
        return found, None
    same = counted is not None and isinstance(source.audience, dict) and not source.audience_defaulted
    report = check(settings, session, source, counted=counted if same else None)
    for severity, items in (("error", report.errors), ("warning", report.warnings)):
        for p in items:
            place(p.file, p.line, p.message, severity, p.link_text, p.detail)
    return found, report.audience


PREFLIGHT_TTL = 60.0  # seconds the editor's page load reuses the preflight of unchanged files
_checked: dict[tuple[str, str, str, str], tuple[float, tuple[list[dict], int | None]]] = {}


def cached_problems(
    settings, session, slug: str, loaded, *, clock=time.monotonic, counted: dict[str, int] | None = None
) -> tuple[list[dict], int | None]:
    """:func:`problems` of these exact files, reused for a minute by the editor's page load (the
    preflight renders every language and counts the audience). A save changes the files' hash and
    runs it afresh; scheduling and sending run the full preflight themselves."""
    key = (str(session.get_bind().url), str(settings.campaigns_dir), slug, loaded.files_hash)
    now = clock()
    if key not in _checked or now - _checked[key][0] > PREFLIGHT_TTL:
        if len(_checked) > 1000:
            _checked.clear()
        _checked[key] = (now, problems(settings, session, slug, loaded.files, counted=counted))
    return _checked[key][1]


def _catalog(session) -> dict:
    return {
        "topics": list_topics(session),
        "pods": list_pods(session),
        "resources": list_resources(session),
    }


@bp.get("/campaigns/<slug>/edit")
@allowed("campaign.edit")
def edit(slug: str):
    settings = context.settings()
    loaded = revisions.load_files(settings, slug)
    if DEFAULT_LANGUAGE not in loaded.files:
        return redirect(url_for("console_campaigns.new", slug=slug))
    return _editor(slug, loaded)


def _editor(slug: str, loaded, status: int = 200, conflict=None, mine: dict | None = None):
    settings = context.settings()
    with_scripts()
    drafts = {code: parse(code, text) for code, text in loaded.files.items()}
    base = drafts[DEFAULT_LANGUAGE]
    with context.session() as s:
        catalog = _catalog(s)
        spec = base.meta.get("audience") if isinstance(base.meta.get("audience"), dict) else {}
        try:
            breakdown = cached_audience_breakdown(s, spec or None)
        except (AudienceError, GllMailError):
            breakdown = None
        counted = breakdown.by_language if breakdown is not None and spec else None
        found, audience = cached_problems(settings, s, slug, loaded, counted=counted)
        states = translation_states(settings, s, slug)
    local, zone = send_at_fields(base.meta.get("send_at"))
    language = request.args.get("lang") if request.args.get("lang") in drafts else DEFAULT_LANGUAGE
    device = request.args.get("device") if request.args.get("device") in DEVICES else "desktop"
    return render(
        "editor.html",
        status,
        slug=slug,
        loaded=loaded,
        drafts=drafts,
        base=base,
        problems=found,
        audience=audience,
        breakdown=breakdown,
        catalog=catalog,
        kinds=KINDS,
        layouts=layouts(settings.templates_dir),
        languages=LANGUAGES,
        direction=text_direction,
        timezones=zone_choices(zone),
        send_at=local,
        timezone=zone,
        spec=spec or {},
        preview_language=language,
        device=device,
        devices=DEVICES,
        member=request.args.get("member", ""),
        conflict=conflict,
        mine=mine or {},
        states=states,
    )


def translation_states(settings, session, slug: str) -> dict[str, dict]:
    """language → where its translation stands (state and a sentence), for each tab's status line."""
    try:
        source = load_source(revisions.base_file(settings, slug), strict=False)
    except SourceError:
        return {}
    return {
        st.language: {"state": st.state, "text": st.describe()}
        for st in translations.statuses(session, source)
        if st.state != translations.MISSING
    }


@bp.post("/campaigns/<slug>/translations/<language>/mark")
@allowed("campaign.edit")
def mark_translation(slug: str, language: str):
    """ "Mark LANG as up to date": the translation translates the English text as it is now."""
    check_csrf()
    name = LANGUAGES.get(language, {}).get("english", language)
    try:
        with context.session() as s:
            marked = translations.mark(context.settings(), s, g.user, slug, language)
            revision = marked.revision.id
    except GllMailError as exc:
        flash(message_of(exc), "error")
    else:
        flash(f"{name} marked as up to date with the English text {marked.digest} (revision {revision}).", "notice")
    return redirect(url_for(".edit", slug=slug, _anchor=f"lang-{language}"))


def _save(slug: str):
    settings = context.settings()
    loaded = revisions.load_files(settings, slug)
    files = files_from_form(request.form, loaded.files)
    with context.session() as s:
        return revisions.save_source(settings, s, g.user, slug, files, request.form.get("files_hash") or None), files


@bp.post("/campaigns/<slug>/edit")
@allowed("campaign.edit")
def save(slug: str):
    check_csrf()
    try:
        revision, _ = _save(slug)
    except revisions.ConflictError as exc:
        loaded = revisions.load_files(context.settings(), slug)
        mine = files_from_form(request.form, loaded.files)
        return _editor(slug, loaded, 409, conflict=message_of(exc), mine=mine)
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return redirect(url_for(".edit", slug=slug))
    flash(f"Saved (revision {revision.id}, content {revision.content_hash[:8]}).", "notice")
    return redirect(url_for(".edit", slug=slug))


@bp.post("/campaigns/<slug>/autosave")
@allowed("campaign.edit")
def autosave(slug: str):
    """The editor script's save: JSON with the new hash, the preflight's problems and the audience."""
    check_csrf()
    settings = context.settings()
    try:
        revision, _ = _save(slug)
    except revisions.ConflictError as exc:
        return jsonify(conflict=message_of(exc), files=exc.files, files_hash=exc.current_hash), 409
    except GllMailError as exc:
        return jsonify(error=message_of(exc)), 400
    loaded = revisions.load_files(settings, slug)
    with context.session() as s:
        found, audience = problems(settings, s, slug, loaded.files)
        key = (str(s.get_bind().url), str(settings.campaigns_dir), slug, loaded.files_hash)
        _checked[key] = (time.monotonic(), (found, audience))  # the next page load shows this check
        states = translation_states(settings, s, slug)
    return jsonify(
        files_hash=loaded.files_hash,
        revision=revision.id,
        content_hash=revision.content_hash[:8],
        problems=found,
        audience=audience,
        translations=states,
    )


@bp.get("/audience")
@allowed("campaign.view")
def audience_count():
    """A live count by language for the audience picker: ``?topics=a&pods=b&registered=true``."""
    spec: dict = {}
    for key in ("topics", "pods"):
        chosen = [v for v in request.args.getlist(key) if v]
        if chosen:
            spec[key] = chosen
    if request.args.get("registered") in ("true", "false"):
        spec["registered"] = request.args["registered"] == "true"
    try:
        with context.session() as s:
            found = audience_breakdown(s, spec or None)
    except GllMailError as exc:
        return jsonify(error=message_of(exc)), 400
    return jsonify(total=found.total, by_language=found.by_language, registered=found.registered)


@bp.get("/campaigns/<slug>/preview")
@allowed("campaign.preview")
def preview(slug: str):
    """The email as a recipient gets it, rendered by the senders' renderer, for a sample member or a
    chosen one; framed by the editor (same origin only), styles inline as in the email."""
    settings = context.settings()
    language = request.args.get("lang") if request.args.get("lang") in LANGUAGES else None
    email = (request.args.get("member") or "").strip()
    try:
        source = load_source(revisions.base_file(settings, slug), strict=False)
        with context.session() as s:
            subscriber = find_by_email(s, email) if email else None
            recipient = recipient_for(s, subscriber) if subscriber else sample_recipient(language or "en")
            shown = language or recipient.language or "en"
            renderer = CampaignRenderer(settings, s, source, get_campaign(s, slug), languages=(shown,))
            message = renderer.render(recipient, language=shown)
        html = message.html
    except GllMailError as exc:
        html = (
            f"<!doctype html><meta charset=utf-8><p>This campaign cannot be shown yet: {_escape(message_of(exc))}</p>"
        )
    g.csp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; frame-ancestors 'self'"
    g.frame_self = True
    return html


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


@bp.get("/campaigns/<slug>/revisions")
@allowed("campaign.view")
def revision_list(slug: str):
    """A page of revisions, newest first (older ones by cursor: ``?before=ID``), and the diff of two."""
    before = request.args.get("before", type=int)
    with context.session() as s:
        found, more = revisions.revisions_page(s, slug, before=before, limit=REVISION_ROWS)
        changes, pair = {}, None
        a, b = request.args.get("a", type=int), request.args.get("b", type=int)
        if a and b:
            try:
                pair = (revisions.get_revision(s, slug, a), revisions.get_revision(s, slug, b))
            except GllMailError as exc:
                flash(message_of(exc), "error")
            else:
                changes = revisions.diff(*pair)
    if not found and before is None:
        return redirect(url_for("console_campaigns.detail", slug=slug))
    older = url_for(".revision_list", slug=slug, before=found[-1].id) if more and found else None
    newest = url_for(".revision_list", slug=slug) if before is not None else None
    return render(
        "revisions.html",
        slug=slug,
        revisions=found,
        changes=changes,
        pair=pair,
        older=older,
        newest=newest,
        per_page=REVISION_ROWS,
    )
