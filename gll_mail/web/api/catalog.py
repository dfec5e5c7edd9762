"""``/api/v1/topics``, ``/pods``, ``/resources`` and ``/suppressions``: the team's catalog work
through ``library.topics_pods``, ``library.resources`` and ``members.suppression_list``."""

from __future__ import annotations

from typing import Any

from flask import request
from spectree import Response as Spec

from gll_mail import catalog
from gll_mail.library import resources, topics_pods
from gll_mail.members import suppression_list
from gll_mail.web import context
from gll_mail.web.api import schemas as s
from gll_mail.web.api.core import (
    actor,
    bp,
    check_if_match,
    cursor_int,
    etag_of,
    json_response,
    needs,
    page,
    spec,
    with_etag,
)

ERRORS = {"HTTP_401": s.ProblemBody, "HTTP_403": s.ProblemBody, "HTTP_404": s.ProblemBody}
WRITE_ERRORS = ERRORS | {"HTTP_409": s.ProblemBody, "HTTP_412": s.ProblemBody, "HTTP_428": s.ProblemBody}
WRITE_ERRORS |= {"HTTP_422": s.ProblemBody}
KINDS = {
    "topics": (catalog.get_topic, catalog.list_topics, topics_pods.create_topic, topics_pods.update_topic),
    "pods": (catalog.get_pod, catalog.list_pods, topics_pods.create_pod, topics_pods.update_pod),
}
ARCHIVE = {"topics": topics_pods.archive_topic, "pods": topics_pods.archive_pod}


def _named(obj) -> dict[str, Any]:
    return {
        "slug": obj.slug,
        "name": obj.name,
        "description": obj.description,
        "names": dict(obj.names or {}),
        "descriptions": dict(obj.descriptions or {}),
        "archived": obj.archived_at is not None,
    }


def _list(kind: str):
    archived = request.context.query.archived
    with context.session() as session:
        return json_response({"items": [_named(o) for o in KINDS[kind][1](session, archived=archived)]})


def _get(kind: str, slug: str):
    with context.session() as session:
        return with_etag(_named(KINDS[kind][0](session, slug)))


def _create(kind: str):
    body: s.NamedCreate = request.context.json
    with context.session() as session:
        data = _named(KINDS[kind][2](session, actor(), **body.model_dump()))
    response = with_etag(data, 201)
    response.headers["Location"] = f"/api/v1/{kind}/{data['slug']}"
    return response


def _update(kind: str, slug: str):
    body: s.NamedUpdate = request.context.json
    with context.session() as session:
        check_if_match(etag_of(_named(KINDS[kind][0](session, slug))))
        obj, _changes = KINDS[kind][3](session, actor(), slug, **body.model_dump(exclude_none=True))
        data = _named(obj)
    return with_etag(data)


def _archive(kind: str, slug: str, restore: bool):
    with context.session() as session:
        changed = ARCHIVE[kind](session, actor(), slug, restore=restore)
    return json_response({"changed": changed})


def _named_routes(kind: str, tag: str) -> None:
    """The same five routes for topics and pods."""

    def listing():
        return _list(kind)

    def read(slug: str):
        return _get(kind, slug)

    def create():
        return _create(kind)

    def change(slug: str):
        return _update(kind, slug)

    def archive(slug: str):
        return _archive(kind, slug, False)

    def restore(slug: str):
        return _archive(kind, slug, True)

    singular = kind[:-1]
    routes = (
        ("GET", "", listing, "catalog.view", {"query": s.ArchivedQuery, "resp": Spec(HTTP_200=s.NamedList, **ERRORS)}),
        ("POST", "", create, "catalog.edit", {"json": s.NamedCreate, "resp": Spec(HTTP_201=s.Named, **WRITE_ERRORS)}),
        ("GET", "/<slug>", read, "catalog.view", {"resp": Spec(HTTP_200=s.Named, **ERRORS)}),
        (
            "PATCH",
            "/<slug>",
            change,
            "catalog.edit",
            {"json": s.NamedUpdate, "resp": Spec(HTTP_200=s.Named, **WRITE_ERRORS)},
        ),
        ("POST", "/<slug>/archive", archive, "catalog.edit", {"resp": Spec(HTTP_200=s.Done, **WRITE_ERRORS)}),
        ("POST", "/<slug>/restore", restore, "catalog.edit", {"resp": Spec(HTTP_200=s.Done, **WRITE_ERRORS)}),
    )
    docs = {
        listing: f"List the {kind} (``archived=true``: the archived ones too).",
        create: f"Create a {singular}, its name and description in up to six languages.",
        read: f"One {singular}.",
        change: f"Rename a {singular} or change its description. Needs ``If-Match``.",
        archive: f"Archive a {singular}: it stays in histories, members cannot choose it.",
        restore: f"Bring an archived {singular} back.",
    }
    for method, path, view, action, validation in routes:
        view.__doc__ = docs[view]
        name = f"{view.__name__}_{singular}"
        view.__name__ = view.__qualname__ = name
        checked = needs(action)(spec.validate(tags=[tag], **validation)(view))
        bp.add_url_rule(f"/{kind}{path}", endpoint=name, view_func=checked, methods=[method])


_named_routes("topics", "topics")
_named_routes("pods", "pods")


@bp.get("/pods/<slug>/members")
@needs("catalog.view")
@spec.validate(query=s.ArchivedQuery, resp=Spec(HTTP_200=s.Roster, **ERRORS), tags=["pods"])
def pod_roster(slug: str):
    """The pod's members now (``archived=true``: former members too), with when they joined and left."""
    with context.session() as session:
        rows = topics_pods.roster(session, actor(), slug, former=request.context.query.archived)
    return json_response({"items": rows})


# --- the resource library ---------------------------------------------------------------------------


def _resource(r) -> dict[str, Any]:
    return {
        "slug": r.slug,
        "title": r.title,
        "titles": dict(r.titles or {}),
        "url": r.url,
        "file": r.file_path,
        "access": r.access,
        "archived_at": r.archived_at.isoformat() if r.archived_at else None,
        "moved_to": r.moved_to,
    }


@bp.get("/resources")
@needs("catalog.view")
@spec.validate(query=s.ArchivedQuery, resp=Spec(HTTP_200=s.ResourceList, **ERRORS), tags=["resources"])
def list_resources():
    """The resource library (``archived=true``: archived resources too)."""
    with context.session() as session:
        found = catalog.list_resources(session, archived=request.context.query.archived)
        return json_response({"items": [_resource(r) for r in found]})


@bp.post("/resources")
@needs("catalog.edit")
@spec.validate(json=s.ResourceCreate, resp=Spec(HTTP_201=s.ResourceOut, **WRITE_ERRORS), tags=["resources"])
def create_resource():
    """Add a resource: a URL or a file in the resources folder, with its access rule."""
    body: s.ResourceCreate = request.context.json
    values = body.model_dump()
    values["file_path"] = values.pop("file")
    with context.session() as session:
        data = _resource(resources.create_resource(context.settings(), session, actor(), **values))
    response = with_etag(data, 201)
    response.headers["Location"] = f"/api/v1/resources/{data['slug']}"
    return response


@bp.get("/resources/<slug>")
@needs("catalog.view")
@spec.validate(resp=Spec(HTTP_200=s.ResourceOut, **ERRORS), tags=["resources"])
def get_resource(slug: str):
    """One resource, with its clicks, registrations and the campaigns that link to it."""
    with context.session() as session:
        data = resources.describe_resource(context.settings(), session, actor(), slug)
        tag = etag_of(_resource(catalog.get_resource(session, slug)))
    response = json_response(data)
    response.headers["ETag"] = tag
    return response


@bp.patch("/resources/<slug>")
@needs("catalog.edit")
@spec.validate(json=s.ResourceUpdate, resp=Spec(HTTP_200=s.ResourceOut, **WRITE_ERRORS), tags=["resources"])
def update_resource(slug: str):
    """Retitle, repoint or change access. An access change linked campaigns would feel needs
    ``confirmed: true`` (409 lists them). Needs ``If-Match``."""
    body: s.ResourceUpdate = request.context.json
    values = body.model_dump(exclude_none=True)
    if "file" in values:
        values["file_path"] = values.pop("file")
    with context.session() as session:
        check_if_match(etag_of(_resource(catalog.get_resource(session, slug))))
        resource, _changes = resources.update_resource(context.settings(), session, actor(), slug, **values)
        data = _resource(resource)
    return with_etag(data)


@bp.post("/resources/<slug>/archive")
@needs("catalog.edit")
@spec.validate(json=s.ArchiveBody, resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS), tags=["resources"])
def archive_resource(slug: str):
    """Archive a resource; its links then say where it went (``moved_to``)."""
    with context.session() as session:
        changed = resources.archive_resource(session, actor(), slug, moved_to=request.context.json.moved_to)
    return json_response({"changed": changed})


@bp.delete("/resources/<slug>")
@needs("catalog.edit")
@spec.validate(resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS), tags=["resources"])
def delete_resource(slug: str):
    """Delete a resource no campaign links to (refused otherwise: archive it)."""
    with context.session() as session:
        resources.delete_resource(context.settings(), session, actor(), slug)
    return json_response({"changed": True})


# --- suppressions ----------------------------------------------------------------------------------


def _suppression(row) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "email_hash": row.email_hash,
        "reason": row.reason,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


@bp.get("/suppressions")
@needs("suppression.view")
@spec.validate(query=s.SuppressionQuery, resp=Spec(HTTP_200=s.SuppressionPage, **ERRORS), tags=["suppressions"])
def list_suppressions():
    """Search the never-mail list, newest first, a page at a time."""
    q: s.SuppressionQuery = request.context.query
    with context.session() as session:
        rows, more = suppression_list.search(
            session, actor(), q=q.q, reason=q.reason, limit=q.limit, cursor=cursor_int(q.cursor)
        )
        return page([_suppression(r) for r in rows], more)


@bp.post("/suppressions")
@needs("suppression.edit")
@spec.validate(json=s.SuppressionAdd, resp=Spec(HTTP_201=s.SuppressionOut, **WRITE_ERRORS), tags=["suppressions"])
def add_suppression():
    """Put an address on the never-mail list, saying why (admins only)."""
    body: s.SuppressionAdd = request.context.json
    with context.session() as session:
        row = suppression_list.add(session, actor(), body.email, reason=body.reason, note=body.note)
        return json_response(_suppression(row), 201)


@bp.post("/suppressions/remove")
@needs("suppression.edit")
@spec.validate(json=s.SuppressionRemove, resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS), tags=["suppressions"])
def remove_suppression():
    """Take an address off the list, saying why (it does not re-subscribe anyone; admins only)."""
    body: s.SuppressionRemove = request.context.json
    with context.session() as session:
        changed = suppression_list.remove(session, actor(), body.email, note=body.note)
    return json_response({"changed": changed})
