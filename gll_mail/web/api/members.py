"""``/api/v1/subscribers``: search, create (one or a batch), read, update, pods, topics, unsubscribe,
erase and export, through ``members.directory`` and ``members.team_edits``."""

from __future__ import annotations

from flask import request
from spectree import Response as Spec

from gll_mail.members import directory, team_edits
from gll_mail.models import Subscriber
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
)

TAG = "subscribers"
ERRORS = {"HTTP_401": s.ProblemBody, "HTTP_403": s.ProblemBody, "HTTP_404": s.ProblemBody}
WRITE_ERRORS = ERRORS | {"HTTP_409": s.ProblemBody, "HTTP_412": s.ProblemBody, "HTTP_428": s.ProblemBody}


def version(member: Subscriber) -> str:
    """The ETag of a member: their editable profile and status."""
    fields = ("public_id", "name", "organization", "country", "role", "language", "status", "paused")
    return etag_of({f: getattr(member, f) for f in fields})


def _view(key: str):
    with context.session() as session:
        member = directory.find_member(session, key)
        data = directory.member_view(session, actor(), member, events=50)
        tag = version(member)
    response = json_response(data)
    response.headers["ETag"] = tag
    return response


@bp.get("/subscribers")
@needs("member.view")
@spec.validate(query=s.MemberQuery, resp=Spec(HTTP_200=s.MemberPage, **ERRORS), tags=[TAG])
def search_subscribers():
    """Search members: filters, newest first, a page at a time (pass ``next_cursor`` as ``cursor``)."""
    q: s.MemberQuery = request.context.query
    with context.session() as session:
        found = directory.search_members(
            session,
            actor(),
            **q.model_dump(exclude={"cursor", "limit"}),
            limit=q.limit,
            cursor=cursor_int(q.cursor),
        )
    return page(found.rows, found.next_cursor)


@bp.post("/subscribers")
@needs("member.edit")
@spec.validate(json=s.MemberCreate, resp=Spec(HTTP_201=s.Member, **WRITE_ERRORS, HTTP_422=s.ProblemBody), tags=[TAG])
def create_subscriber():
    """Add one member (refused when on the suppression list; 409 when already a member)."""
    body: s.MemberCreate = request.context.json
    values = body.model_dump(exclude={"topics", "pods"}, exclude_none=True)
    public_id = team_edits.create_member(context.engine(), actor(), values, topics=body.topics, pods=body.pods)
    response = _view(public_id)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/subscribers/{public_id}"
    return response


@bp.post("/subscribers/batch")
@needs("member.edit")
@spec.validate(json=s.MemberBatch, resp=Spec(HTTP_200=s.BatchReport, **ERRORS, HTTP_422=s.ProblemBody), tags=[TAG])
def create_subscribers():
    """Add or update up to 5,000 members in one request, each refused record costing only itself."""
    body: s.MemberBatch = request.context.json
    records = [r.model_dump(exclude_none=True) for r in body.subscribers]
    report = team_edits.create_members(context.engine(), actor(), records, topics=body.topics, pods=body.pods)
    return json_response(
        {
            "imported": report.imported,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
            "problems": [{"line": p.line, "email": p.email, "reason": p.reason} for p in report.problems],
        }
    )


@bp.get("/subscribers/<key>")
@needs("member.view")
@spec.validate(resp=Spec(HTTP_200=s.Member, **ERRORS), tags=[TAG])
def get_subscriber(key: str):
    """One member (by row id or public id): profile, consent, topics, pods, recent events, deliveries."""
    return _view(key)


@bp.patch("/subscribers/<key>")
@needs("member.edit")
@spec.validate(json=s.MemberFields, resp=Spec(HTTP_200=s.Member, **WRITE_ERRORS, HTTP_422=s.ProblemBody), tags=[TAG])
def update_subscriber(key: str):
    """Change name, organization, country, role or language. Needs ``If-Match`` (412 when stale)."""
    body: s.MemberFields = request.context.json
    with context.session() as session:
        member = team_edits.lock_member(session, key)
        check_if_match(version(member))
        team_edits.update_profile(session, actor(), member, body.model_dump())
    return _view(key)


def _memberships(key: str, kind: str):
    with context.session() as session:
        data = directory.member_view(session, actor(), key, events=0)
    items = data["pod_history"] if kind == "pods" else data["topics"]
    return json_response({"items": items})


def _set(key: str, kind: str, slug: str, add: bool):
    change = {
        ("pods", True): team_edits.add_to_pod,
        ("pods", False): team_edits.remove_from_pod,
        ("topics", True): team_edits.add_topic,
        ("topics", False): team_edits.remove_topic,
    }[(kind, add)]
    with context.session() as session:
        member = team_edits.lock_member(session, key)
        if request.headers.get("If-Match"):
            check_if_match(version(member))
        changed = change(session, actor(), member, slug)
    return json_response({"changed": changed})


@bp.get("/subscribers/<key>/pods")
@needs("member.view")
@spec.validate(resp=Spec(HTTP_200=s.Memberships, **ERRORS), tags=[TAG])
def subscriber_pods(key: str):
    """The member's pods: every stay, with when they joined and left."""
    return _memberships(key, "pods")


@bp.put("/subscribers/<key>/pods/<slug>")
@needs("member.edit")
@spec.validate(resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS, HTTP_422=s.ProblemBody), tags=[TAG])
def join_subscriber_pod(key: str, slug: str):
    """Add the member to a pod (``changed``: false when they were in it)."""
    return _set(key, "pods", slug, True)


@bp.delete("/subscribers/<key>/pods/<slug>")
@needs("member.edit")
@spec.validate(resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS, HTTP_422=s.ProblemBody), tags=[TAG])
def leave_subscriber_pod(key: str, slug: str):
    """End the member's stay in a pod (kept in their history)."""
    return _set(key, "pods", slug, False)


@bp.get("/subscribers/<key>/topics")
@needs("member.view")
@spec.validate(resp=Spec(HTTP_200=s.Memberships, **ERRORS), tags=[TAG])
def subscriber_topics(key: str):
    """The member's topics."""
    return _memberships(key, "topics")


@bp.put("/subscribers/<key>/topics/<slug>")
@needs("member.edit")
@spec.validate(resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS, HTTP_422=s.ProblemBody), tags=[TAG])
def add_subscriber_topic(key: str, slug: str):
    """Subscribe the member to a topic."""
    return _set(key, "topics", slug, True)


@bp.delete("/subscribers/<key>/topics/<slug>")
@needs("member.edit")
@spec.validate(resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS, HTTP_422=s.ProblemBody), tags=[TAG])
def remove_subscriber_topic(key: str, slug: str):
    """Take a topic off the member's list."""
    return _set(key, "topics", slug, False)


@bp.post("/subscribers/<key>/unsubscribe")
@needs("member.edit")
@spec.validate(json=s.Reason, resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS), tags=[TAG])
def unsubscribe_subscriber(key: str):
    """Stop all mail to the member, as their own unsubscribe does."""
    body: s.Reason = request.context.json
    with context.session() as session:
        member = team_edits.lock_member(session, key)
        changed = team_edits.unsubscribe(session, actor(), member, reason=body.reason)
    return json_response({"changed": changed})


@bp.post("/subscribers/<key>/erase")
@needs("member.erase")
@spec.validate(json=s.Reason, resp=Spec(HTTP_200=s.Done, **WRITE_ERRORS), tags=[TAG])
def erase_subscriber(key: str):
    """Erase the member (their own deletion): only a hash of the address stays. Admins only."""
    body: s.Reason = request.context.json
    with context.session() as session:
        member = team_edits.lock_member(session, key)
        public_id = team_edits.erase(session, actor(), member, reason=body.reason)
    return json_response({"changed": True, "public_id": public_id})


@bp.post("/subscribers/<key>/export")
@needs("member.export")
@spec.validate(resp=Spec(HTTP_200=s.Export, **ERRORS), tags=[TAG])
def export_subscriber(key: str):
    """Everything kept about the member, as their own download gives it (in the audit log)."""
    with context.session() as session:
        member = directory.find_member(session, key)
        data = team_edits.export(session, actor(), member)
    return json_response(data)
