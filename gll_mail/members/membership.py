"""Joining a learning pod from a gated link: only registered members, and only by a POST."""

from __future__ import annotations

from sqlmodel import Session

from gll_mail.catalog import get_pod, join_pod
from gll_mail.errors import GllMailError
from gll_mail.models import Subscriber


class NotRegistered(GllMailError, PermissionError):
    pass


def join(
    session: Session, subscriber: Subscriber, pod_slug: str, *, source: str = "web", campaign_id: int | None = None
) -> bool:
    """Add a registered member to the pod (idempotent); True when they were not in it before."""
    if not subscriber.is_registered:
        raise NotRegistered("only registered members join learning pods")
    return join_pod(session, subscriber, get_pod(session, pod_slug), source=source, campaign_id=campaign_id)
