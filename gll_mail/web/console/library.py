"""The resource library in the console: the list with clicks and registrations, a new resource, and
one resource's page: titles in six languages, repoint its URL, replace its file (an upload), change
its access after seeing the campaigns that link to it, archive (saying where it went), bring back,
and delete (refused while a campaign links to it).

A thin shell over :mod:`gll_mail.library.resources`, which checks the roles, writes the audit log and
raises :class:`~gll_mail.library.resources.ImpactNotConfirmed` for an access change campaigns feel.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from gll_mail import catalog
from gll_mail.errors import GllMailError
from gll_mail.languages import LANGUAGES
from gll_mail.library import resources
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, error, message_of, render
from gll_mail.web.security import check_csrf

bp = blueprint("console_library")
UPLOAD_LIMIT = 50 * 1024 * 1024  # a report as a PDF


def _list_page(status: int = 200, form=None):
    with context.session() as s:
        items = catalog.list_resources(s, archived=True)
        figures = resources.resource_figures(s, g.user)
        pods = catalog.list_pods(s)
    return render("resources.html", status, items=items, figures=figures, pods=pods, form=form or {})


@bp.get("/resources")
@allowed("catalog.view")
def index():
    return _list_page()


@bp.post("/resources")
@allowed("catalog.edit")
def create():
    check_csrf()
    form = request.form
    try:
        with context.session() as s:
            resource = resources.create_resource(
                context.settings(),
                s,
                g.user,
                slug=form.get("slug", "").strip(),
                title=form.get("title", ""),
                access=form.get("access", "registered"),
                url=form.get("url", "").strip() or None,
            )
            slug = resource.slug
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return _list_page(400, form)
    flash(f"Resource {slug} created.", "notice")
    return redirect(url_for(".item", slug=slug))


def _item_page(slug: str, status: int = 200, *, impact=None, access: str = ""):
    with context.session() as s:
        try:
            described = resources.describe_resource(context.settings(), s, g.user, slug)
        except catalog.CatalogError:
            return error(404, f"There is no resource {slug}.")
        pods = catalog.list_pods(s)
    return render(
        "resource.html",
        status,
        r=described,
        pods=pods,
        translated=catalog.TRANSLATED,
        languages=LANGUAGES,
        impact=impact,
        new_access=access,
    )


@bp.get("/resources/<slug>")
@allowed("catalog.view")
def item(slug: str):
    return _item_page(slug)


@bp.post("/resources/<slug>")
@allowed("catalog.edit")
def change(slug: str):
    """``action`` = titles (title, title-LANG), repoint (url), replace (file), access (access, and
    confirmed after the impact was shown), archive (moved_to) or restore."""
    request.max_content_length = UPLOAD_LIMIT  # only this form takes a file
    check_csrf()
    form, action, settings = request.form, request.form.get("action", ""), context.settings()
    with context.session() as s:
        try:
            catalog.get_resource(s, slug)
        except catalog.CatalogError:
            return error(404, f"There is no resource {slug}.")
    try:
        with context.session() as s:
            if action == "titles":
                titles = {code: form.get(f"title-{code}", "") for code in catalog.TRANSLATED}
                _, changes = resources.update_resource(
                    settings, s, g.user, slug, title=form.get("title", ""), titles=titles
                )
            elif action == "repoint":
                _, changes = resources.update_resource(settings, s, g.user, slug, url=form.get("url", "").strip())
            elif action == "replace":
                upload = request.files.get("file")
                if upload is None or not upload.filename:
                    raise GllMailError("choose a file to upload")
                _, changes = resources.replace_file(
                    settings, s, g.user, slug, filename=upload.filename, data=upload.read()
                )
            elif action == "access":
                _, changes = resources.update_resource(
                    settings,
                    s,
                    g.user,
                    slug,
                    access=form.get("access", ""),
                    confirmed=form.get("confirmed") == "yes",
                )
            elif action in ("archive", "restore"):
                done = resources.archive_resource(
                    s, g.user, slug, moved_to=form.get("moved_to", "").strip() or None, restore=action == "restore"
                )
                changes = {action: True} if done else {}
            else:
                raise GllMailError("unknown action")
    except resources.ImpactNotConfirmed as exc:
        return _item_page(slug, 409, impact=exc.impact, access=form.get("access", ""))
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return redirect(url_for(".item", slug=slug))
    flash(f"Saved: {', '.join(changes)}." if changes else "Nothing changed.", "notice")
    return redirect(url_for(".item", slug=slug))


@bp.post("/resources/<slug>/delete")
@allowed("catalog.edit")
def delete(slug: str):
    check_csrf()
    try:
        with context.session() as s:
            resources.delete_resource(context.settings(), s, g.user, slug)
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return redirect(url_for(".item", slug=slug))
    flash(f"Resource {slug} deleted.", "notice")
    return redirect(url_for(".index"))
