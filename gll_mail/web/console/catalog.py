"""Pods and topics in the console: the lists, creating one, its names and descriptions in the six
languages, archiving and bringing back, and a pod's roster with join dates (and its CSV).

A thin shell over :mod:`gll_mail.library.topics_pods`, which checks the roles and writes the audit
log with what each change replaced.
"""

from __future__ import annotations

from flask import Response, flash, g, redirect, request, url_for

from gll_mail import catalog
from gll_mail.errors import GllMailError
from gll_mail.languages import LANGUAGES
from gll_mail.library import topics_pods
from gll_mail.web import context
from gll_mail.web.console import allowed, blueprint, error, message_of, render
from gll_mail.web.security import check_csrf

bp = blueprint("console_catalog")

KINDS = {
    "pods": {
        "singular": "pod",
        "title": "Learning pods",
        "list": catalog.list_pods,
        "get": catalog.get_pod,
        "create": topics_pods.create_pod,
        "update": topics_pods.update_pod,
        "archive": topics_pods.archive_pod,
    },
    "topics": {
        "singular": "topic",
        "title": "Topics",
        "list": catalog.list_topics,
        "get": catalog.get_topic,
        "create": topics_pods.create_topic,
        "update": topics_pods.update_topic,
        "archive": topics_pods.archive_topic,
    },
}


def translations(prefix: str) -> dict[str, str]:
    """The form's ``prefix-LANG`` fields for the five languages beside English ("" removes one)."""
    return {code: request.form.get(f"{prefix}-{code}", "") for code in catalog.TRANSLATED}


def _page(kind: str, spec: dict, status: int = 200):
    with context.session() as s:
        items = spec["list"](s, archived=True)
    return render(
        "named_list.html",
        status,
        kind=kind,
        spec=spec,
        items=items,
        translated=catalog.TRANSLATED,
        languages=LANGUAGES,
        form=request.form if request.method == "POST" else {},
    )


@bp.get("/<any(pods, topics):kind>")
@allowed("catalog.view")
def index(kind: str):
    return _page(kind, KINDS[kind])


@bp.post("/<any(pods, topics):kind>")
@allowed("catalog.edit")
def create(kind: str):
    check_csrf()
    spec = KINDS[kind]
    try:
        with context.session() as s:
            item = spec["create"](
                s,
                g.user,
                slug=request.form.get("slug", "").strip(),
                name=request.form.get("name", ""),
                description=request.form.get("description", ""),
                names=translations("name"),
                descriptions=translations("description"),
            )
            slug = item.slug
    except GllMailError as exc:
        flash(message_of(exc), "error")
        return _page(kind, spec, 400)
    flash(f"{spec['singular'].capitalize()} {slug} created.", "notice")
    return redirect(url_for(".item", kind=kind, slug=slug))


@bp.get("/<any(pods, topics):kind>/<slug>")
@allowed("catalog.view")
def item(kind: str, slug: str):
    spec = KINDS[kind]
    with context.session() as s:
        try:
            obj = spec["get"](s, slug)
        except GllMailError:
            return error(404, f"There is no {spec['singular']} {slug}.")
        roster = topics_pods.roster(s, g.user, slug, former=True) if kind == "pods" else None
    return render(
        "named_item.html",
        kind=kind,
        spec=spec,
        obj=obj,
        roster=roster,
        translated=catalog.TRANSLATED,
        languages=LANGUAGES,
    )


@bp.post("/<any(pods, topics):kind>/<slug>")
@allowed("catalog.edit")
def change(kind: str, slug: str):
    """``action`` = update (name, description and their ``-LANG`` translations), archive or restore."""
    check_csrf()
    spec = KINDS[kind]
    action = request.form.get("action", "")
    with context.session() as s:
        try:
            spec["get"](s, slug)
        except GllMailError:
            return error(404, f"There is no {spec['singular']} {slug}.")
    try:
        with context.session() as s:
            if action == "update":
                _, changes = spec["update"](
                    s,
                    g.user,
                    slug,
                    name=request.form.get("name", ""),
                    description=request.form.get("description", ""),
                    names=translations("name"),
                    descriptions=translations("description"),
                )
                flash(f"Saved: {', '.join(changes)}." if changes else "Nothing changed.", "notice")
            elif action in ("archive", "restore"):
                done = spec["archive"](s, g.user, slug, restore=action == "restore")
                what = "archived: hidden from members, history kept" if action == "archive" else "brought back"
                flash(f"{spec['singular'].capitalize()} {slug} {what}." if done else "Nothing changed.", "notice")
            else:
                raise GllMailError("unknown action")
    except GllMailError as exc:
        flash(message_of(exc), "error")
    return redirect(url_for(".item", kind=kind, slug=slug))


@bp.get("/pods/<slug>/roster.csv")
@allowed("member.view")
def roster_csv(slug: str):
    former = request.args.get("former") == "1"
    with context.session() as s:
        try:
            text = topics_pods.roster_csv(s, g.user, slug, former=former)
        except GllMailError:
            return error(404, f"There is no pod {slug}.")
    return Response(
        text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="pod-{slug}-roster.csv"'}
    )
