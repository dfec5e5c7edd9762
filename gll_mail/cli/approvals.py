"""`gll-mail campaign approvals|request-approval|approve|reject|revisions`: four-eyes approval on the
command line. ``--as USER`` names the team account acting; its role is checked like in the console."""

from __future__ import annotations

import json

import click

from gll_mail.cli.base import AppContext, pass_app


def _user(session, username: str):
    from gll_mail.team.accounts import get_admin

    return get_admin(session, username)


def _slug(app: AppContext, slug_or_path: str) -> str:
    from pathlib import Path

    from gll_mail.campaigns.sources import base_path

    if slug_or_path.endswith(".md"):
        return base_path(Path(slug_or_path)).name[: -len(".md")]
    return slug_or_path


as_option = click.option("--as", "as_user", required=True, metavar="USER", help="The team account acting.")


@click.command("approvals")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def approvals(app: AppContext, slug: str, fmt: str) -> None:
    """Where a campaign's approval stands: required, given, void, and what changed since the last one."""
    from gll_mail.campaigns.approvals import state

    slug = _slug(app, slug)
    with app.session() as session:
        st = state(app.settings, session, slug)
        if fmt == "json":
            click.echo(
                json.dumps(
                    {
                        "slug": slug,
                        "content_hash": st.content_hash,
                        "revision": st.revision.id,
                        "required": st.required,
                        "approved": st.approved,
                        "approvals": [_row(r) for r in st.approvals],
                        "rejections": [_row(r) for r in st.rejections],
                        "requests": [_row(r) for r in st.requests],
                        "voided": [_row(r) for r in st.voided],
                        "authors": st.authors,
                        "last_approved_revision": st.last_approved.id if st.last_approved else None,
                        "changes": st.changes,
                    },
                    indent=2,
                    ensure_ascii=False,
                )
            )
            return
        rev = st.revision
        click.echo(f"{slug}: {st.summary()}")
        click.echo(
            f"  content hash {st.content_hash[:8]} (revision {rev.id}, {rev.created_at:%Y-%m-%d %H:%M}Z, "
            f"{'by ' + rev.author if rev.author else 'found on disk'})"
        )
        if st.authors:
            click.echo(f"  authors (may not approve it): {', '.join(st.authors)}")
        for r in st.requests:
            click.echo(
                f"  requested by {r.username} at {r.created_at:%Y-%m-%d %H:%M}Z" + (f": {r.note}" if r.note else "")
            )
        for r in st.approvals + st.rejections:
            click.echo(
                f"  {r.decision} by {r.username} at {r.created_at:%Y-%m-%d %H:%M}Z" + (f": {r.note}" if r.note else "")
            )
        for r in st.voided[:5]:
            click.echo(f"  void: {r.decision} by {r.username} of {r.content_hash[:8]} — {r.void_reason}")
        if st.changes:
            click.echo(f"  changed since the last approval (revision {st.last_approved.id}):")
            for text in st.changes.values():
                click.echo("    " + text.rstrip("\n").replace("\n", "\n    "))


def _row(r) -> dict:
    return {
        "decision": r.decision,
        "by": r.username,
        "at": r.created_at.isoformat(),
        "note": r.note,
        "content_hash": r.content_hash,
        "voided_at": r.voided_at.isoformat() if r.voided_at else None,
        "void_reason": r.void_reason,
    }


@click.command("request-approval")
@click.argument("slug")
@as_option
@click.option("--note", default="", help="What the approver should look at.")
@pass_app
def request_approval(app: AppContext, slug: str, as_user: str, note: str) -> None:
    """Ask for approval of the campaign's current content (you count as one of its authors)."""
    from gll_mail.campaigns.approvals import request

    slug = _slug(app, slug)
    with app.session() as session:
        row = request(app.settings, session, _user(session, as_user), slug, note)
        click.echo(
            f"Approval of {slug} requested (hash {row.content_hash[:8]}); an approver runs "
            f"`gll-mail campaign approve {slug} --as THEM`."
        )


@click.command("approve")
@click.argument("slug")
@as_option
@click.option("--note", default="", help="A note kept with the approval.")
@click.option("--hash", "expected", default=None, help="The content hash (or its first 8 characters) you reviewed.")
@pass_app
def approve_cmd(app: AppContext, slug: str, as_user: str, note: str, expected: str | None) -> None:
    """Approve the campaign's current content (not when you wrote it)."""
    from gll_mail.campaigns.approvals import approve, state

    slug = _slug(app, slug)
    with app.session() as session:
        row = approve(app.settings, session, _user(session, as_user), slug, note, expected_hash=expected)
        st = state(app.settings, session, slug)
        click.echo(f"{slug} ({row.content_hash[:8]}) approved by {as_user}: {st.summary()}.")


@click.command("reject")
@click.argument("slug")
@as_option
@click.option("--note", required=True, help="Why: the editor needs it to fix the campaign.")
@click.option("--hash", "expected", default=None, help="The content hash (or its first 8 characters) you reviewed.")
@pass_app
def reject_cmd(app: AppContext, slug: str, as_user: str, note: str, expected: str | None) -> None:
    """Reject the campaign's current content, saying why."""
    from gll_mail.campaigns.approvals import reject

    slug = _slug(app, slug)
    with app.session() as session:
        row = reject(app.settings, session, _user(session, as_user), slug, note, expected_hash=expected)
        click.echo(f"{slug} ({row.content_hash[:8]}) rejected by {as_user}: {note}")


@click.command("revisions")
@click.argument("slug")
@click.option(
    "--diff",
    "between",
    nargs=2,
    type=int,
    default=None,
    metavar="A B",
    help="Show the changes from revision A to revision B.",
)
@pass_app
def revisions_cmd(app: AppContext, slug: str, between: tuple[int, int] | None) -> None:
    """A campaign's revisions (author, time, content hash), or the diff between two of them."""
    from gll_mail.campaigns.revisions import (
        current_revision,
        diff,
        get_revision,
        revisions,
    )

    slug = _slug(app, slug)
    with app.session() as session:
        if between:
            changes = diff(get_revision(session, slug, between[0]), get_revision(session, slug, between[1]))
            for text in changes.values():
                click.echo(text, nl=False)
            if not changes:
                click.echo(f"revisions {between[0]} and {between[1]} have the same content")
            return
        current_revision(app.settings, session, slug)
        for rev in revisions(session, slug):
            click.echo(
                f"{rev.id}\t{rev.created_at:%Y-%m-%d %H:%M}Z\t{rev.content_hash[:8]}\t"
                f"{rev.author or '(on disk)'}\t{', '.join(sorted(rev.files))}"
            )


def register(campaign: click.Group) -> None:
    for command in (approvals, request_approval, approve_cmd, reject_cmd, revisions_cmd):
        campaign.add_command(command)
