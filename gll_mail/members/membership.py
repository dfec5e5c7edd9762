"""Joining a learning pod from a gated link: only registered members, only by a POST, and never an
archived pod (an old link to it opens a page saying so)."""

from __future__ import annotations

from sqlmodel import Session

from gll_mail.catalog import get_pod, join_pod
from gll_mail.errors import GllMailError
from gll_mail.models import Subscriber


class NotRegistered(GllMailError, PermissionError):
    pass


class PodArchived(GllMailError, PermissionError):
    """The pod was archived: it keeps its members and history, and takes no new ones."""


def join(
    session: Session, subscriber: Subscriber, pod_slug: str, *, source: str = "web", campaign_id: int | None = None
) -> bool:
    """Add a registered member to the pod (idempotent); True when they were not in it before."""
    if not subscriber.is_registered:
        raise NotRegistered("only registered members join learning pods")
    pod = get_pod(session, pod_slug)
    if pod.archived_at is not None:
        raise PodArchived(f"the learning pod {pod_slug} is archived: it takes no new members")
    return join_pod(session, subscriber, pod, source=source, campaign_id=campaign_id)
