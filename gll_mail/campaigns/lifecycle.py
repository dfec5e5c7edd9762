"""The campaign lifecycle: the one writer of ``Campaign.status``, through one table of transitions.

Every status change — by the team (CLI, console, API), by the scheduler, by a worker — is one
entry of :data:`TRANSITIONS`: an operation, the statuses it may start from, the status it leads
to. A change is one guarded ``UPDATE … WHERE id = ? AND status IN (sources)``, so two actors racing
(two workers firing the same job, a pause by hand while the worker pauses itself) never both win.

::

    draft ─schedule→ scheduled ─launch→ sending ─finish→ sent ─reopen→ sending
    draft ─launch→ sending            scheduled, sending ─pause→ paused ─resume→ sending
    draft, scheduled ─hold→ paused    sending ─halt→ paused   paused ─resume_scheduled→ scheduled
    draft, scheduled, sending, paused ─cancel→ cancelled (final)

Two kinds of callers, two kinds of functions:

- **Asked by a person** (:func:`schedule`, :func:`pause`, :func:`resume`, :func:`resume_scheduled`,
  :func:`cancel`, :func:`check_retry`): a refused change raises :class:`LifecycleError` with
  a one-line reason ("cannot resume a cancelled campaign (note is cancelled, not paused)").
- **Done by the machine** (:func:`launch`, :func:`hold`, :func:`halt`, :func:`finish`,
  :func:`reopen`): True when the change took, False when the campaign had moved on (a second
  worker launched it first, a person paused it meanwhile) — not an error.

Every function takes an ``Engine`` (its own transaction) or a ``Connection`` (the caller's
transaction; from a session: ``session.connection()``), then a campaign id.

Where the operations live, and why: ``campaigns/`` sits below ``delivery/`` (delivery imports
campaigns, never the other way), so this module knows nothing of the outbox, the scheduler's job
store or the send loop. What needs those is in :mod:`gll_mail.delivery.control`: launching
(enqueue the audience, then :func:`launch`), the checked launch at the scheduled time (preflight,
then :func:`launch` or :func:`hold`), ``send_now`` (launch, then drain), resume (which may launch),
cancel (with the outbox's waiting rows), retry-failed (the outbox requeues, then :func:`reopen`)
and scheduling (with the APScheduler job). Cancel and retry-failed write the outbox and call the
transition here in one transaction; a launch enqueues first, in batches, and changes the status
last, so a crash midway leaves it ``scheduled`` and the next launch adds what is missing. The
worker calls :func:`halt` when the server is unreachable or too many sends fail, and
:func:`gll_mail.delivery.outbox.finalize` calls :func:`finish` (whose guard reads the delivery
table through the shared models, not through ``delivery/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.engine import Connection, Engine

from gll_mail.errors import GllMailError
from gll_mail.events import emit_webhooks
from gll_mail.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, utcnow

C = Campaign.__table__
D = Delivery.__table__
DRAFT, SCHEDULED, SENDING = CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.SENDING
PAUSED, SENT, CANCELLED = CampaignStatus.PAUSED, CampaignStatus.SENT, CampaignStatus.CANCELLED


class LifecycleError(GllMailError):
    """A status change the lifecycle does not allow (or a campaign that does not exist)."""


@dataclass(frozen=True)
class Transition:
    verb: str  # for messages: "cannot <verb> a <status> campaign"
    sources: tuple[CampaignStatus, ...]
    target: CampaignStatus
    why: str


TRANSITIONS: dict[str, Transition] = {
    "schedule": Transition("schedule", (DRAFT, SCHEDULED), SCHEDULED, "the team sets (or moves) the send time"),
    "launch": Transition(
        "launch", (DRAFT, SCHEDULED), SENDING, "the audience was enqueued: `campaign send`, or the scheduled time came"
    ),
    "hold": Transition(
        "launch",
        (DRAFT, SCHEDULED),
        PAUSED,
        "its preflight failed at the scheduled time: nothing enqueued, the reason kept",
    ),
    "pause": Transition("pause", (SENDING, SCHEDULED), PAUSED, "the team pauses it, with a reason"),
    "halt": Transition(
        "pause", (SENDING,), PAUSED, "a worker pauses it: SMTP server unreachable, too many failures, cannot render"
    ),
    "resume": Transition("resume", (PAUSED,), SENDING, "the team resumes a campaign that had started sending"),
    "resume_scheduled": Transition(
        "resume", (PAUSED,), SCHEDULED, "the team resumes a campaign never launched: it waits for its time again"
    ),
    "cancel": Transition(
        "cancel", (DRAFT, SCHEDULED, SENDING, PAUSED), CANCELLED, "the team cancels it: nothing more is sent"
    ),
    "finish": Transition("finish", (SENDING,), SENT, "every delivery is final"),
    "reopen": Transition("reopen", (SENT,), SENDING, "retry-failed queued failed messages again"),
}

# ``retry-failed`` changes no status except through "reopen", but is refused on these
NO_RETRY = (CANCELLED,)


def allowed(operation: str, status: str) -> bool:
    return status in TRANSITIONS[operation].sources


def refusal(operation: str, slug: str, status: str) -> str:
    """The one-line reason a transition is refused."""
    step = TRANSITIONS[operation]
    if status == step.target:
        return f"{slug} is already {status}"
    names = [str(s) for s in step.sources]
    sources = " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))
    return f"cannot {step.verb} a {status} campaign ({slug} is {status}, not {sources})"


@contextmanager
def _begin(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as connection:
            yield connection


def current(bind: Engine | Connection, campaign_id: int) -> tuple[str, str]:
    """(slug, status) of a campaign; :class:`LifecycleError` when there is none."""
    with _begin(bind) as connection:
        row = connection.execute(select(C.c.slug, C.c.status).where(C.c.id == campaign_id)).first()
    if row is None:
        raise LifecycleError(f"no campaign with id {campaign_id}")
    return row[0], row[1]


def _move(connection: Connection, campaign_id: int, operation: str, *, reason: str = "", guard=None, **values) -> bool:
    """The one status write: compare-and-set along the table. True when the row changed."""
    step = TRANSITIONS[operation]
    condition = [C.c.id == campaign_id, C.c.status.in_([str(s) for s in step.sources])]
    if guard is not None:
        condition.append(guard)
    changed = connection.execute(
        update(C)
        .where(*condition)
        .values(status=str(step.target), paused_reason=reason[:500], updated_at=utcnow(), **values)
    )
    return changed.rowcount == 1


def _require(connection: Connection, campaign_id: int, operation: str, **kwargs) -> CampaignStatus:
    if not _move(connection, campaign_id, operation, **kwargs):
        slug, status = current(connection, campaign_id)
        raise LifecycleError(refusal(operation, slug, status))
    return TRANSITIONS[operation].target


# --- asked by a person: refused changes raise LifecycleError; each returns the new status -----


def schedule(bind: Engine | Connection, campaign_id: int, when: datetime) -> CampaignStatus:
    """Draft or scheduled → scheduled for ``when`` (the job that fires it is the caller's)."""
    with _begin(bind) as connection:
        return _require(connection, campaign_id, "schedule", send_at=when)


def pause(bind: Engine | Connection, campaign_id: int, reason: str = "paused by hand") -> CampaignStatus:
    """Sending or scheduled → paused; workers finish the messages in flight and send no more."""
    with _begin(bind) as connection:
        return _require(connection, campaign_id, "pause", reason=reason)


def resume(bind: Engine | Connection, campaign_id: int) -> CampaignStatus:
    """Paused → sending (a campaign that had started: running workers send the rest)."""
    with _begin(bind) as connection:
        return _require(connection, campaign_id, "resume")


def resume_scheduled(bind: Engine | Connection, campaign_id: int) -> CampaignStatus:
    """Paused → scheduled (a campaign never launched: it is launched, checked, at its time)."""
    with _begin(bind) as connection:
        return _require(connection, campaign_id, "resume_scheduled")


def cancel(bind: Engine | Connection, campaign_id: int, reason: str = "cancelled by hand") -> CampaignStatus:
    """→ cancelled. The outbox's waiting rows are the caller's (``delivery.control.cancel``)."""
    with _begin(bind) as connection:
        return _require(connection, campaign_id, "cancel", reason=reason)


def check_retry(bind: Engine | Connection, campaign_id: int) -> str:
    """The status of a campaign whose failed messages may be queued again; raises when it may not."""
    slug, status = current(bind, campaign_id)
    if status in NO_RETRY:
        raise LifecycleError(f"cannot retry the failed messages of a {status} campaign ({slug} is {status})")
    return status


# --- done by the machine: False when the campaign had moved on -------------------------------


def launch(bind: Engine | Connection, campaign_id: int) -> bool:
    """Draft or scheduled → sending, once its audience is in the outbox."""
    with _begin(bind) as connection:
        return _move(connection, campaign_id, "launch", started_at=utcnow())


def hold(bind: Engine | Connection, campaign_id: int, reason: str) -> bool:
    """Draft or scheduled → paused with the reason, before anything was enqueued."""
    with _begin(bind) as connection:
        return _move(connection, campaign_id, "hold", reason=reason)


def halt(bind: Engine | Connection, campaign_id: int, reason: str) -> bool:
    """Sending → paused by a worker, with the reason (``campaign status`` shows it)."""
    with _begin(bind) as connection:
        return _move(connection, campaign_id, "halt", reason=reason)


def finish(bind: Engine | Connection, campaign_id: int) -> bool:
    """Sending → sent, if and only if every delivery is final (one guarded statement)."""
    waiting = exists().where(D.c.campaign_id == campaign_id, D.c.status.not_in(DeliveryStatus.final()))
    with _begin(bind) as connection:
        finished = _move(connection, campaign_id, "finish", guard=~waiting, finished_at=utcnow())
        if finished:
            _announce_sent(connection, campaign_id)
        return finished


def _announce_sent(connection: Connection, campaign_id: int) -> None:
    """The ``campaign.sent`` webhook, in the transaction that marks the campaign sent."""
    slug = connection.execute(select(C.c.slug).where(C.c.id == campaign_id)).scalar_one()
    counts = dict(
        connection.execute(
            select(D.c.status, func.count()).where(D.c.campaign_id == campaign_id).group_by(D.c.status)
        ).all()
    )
    emit_webhooks(connection, "campaign.sent", [({"campaign": {"slug": slug}, "deliveries": counts}, None)])


def reopen(bind: Engine | Connection, campaign_id: int) -> bool:
    """Sent → sending, when failed messages were queued again."""
    with _begin(bind) as connection:
        return _move(connection, campaign_id, "reopen")
