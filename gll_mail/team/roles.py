"""Who may do what: the one table every shell (console, CLI, API) checks on the server.

Roles are ordered: ``viewer`` < ``editor`` < ``approver`` < ``admin``; each can do everything the
roles below it can. An action needs the role named in :data:`ACTIONS` or a higher one.
"""

from __future__ import annotations

from gll_mail.errors import GllMailError
from gll_mail.models import AdminUser
from gll_mail.team.audit import COMMAND_LINE, SYSTEM

VIEWER, EDITOR, APPROVER, ADMIN = "viewer", "editor", "approver", "admin"
ROLES = (VIEWER, EDITOR, APPROVER, ADMIN)
ROLE_HELP = {
    VIEWER: "reads campaigns and reports",
    EDITOR: "writes, checks, previews, test-sends, schedules and follows campaigns; requests approval",
    APPROVER: "an editor who also approves or rejects other people's campaigns",
    ADMIN: "an approver who also manages team accounts, the suppression list and webhooks, and erases members",
}

ACTIONS: dict[str, str] = {
    "campaign.view": VIEWER,
    "report.view": VIEWER,
    "campaign.create": EDITOR,
    "campaign.edit": EDITOR,
    "campaign.preview": EDITOR,
    "campaign.test-send": EDITOR,
    "campaign.request-approval": EDITOR,
    "campaign.schedule": EDITOR,
    "campaign.send": EDITOR,
    "campaign.pause": EDITOR,
    "campaign.resume": EDITOR,
    "campaign.cancel": EDITOR,
    "campaign.retry-failed": EDITOR,
    "audit.view": EDITOR,
    "catalog.view": VIEWER,
    "member.view": VIEWER,
    "suppression.view": VIEWER,
    "import.view": VIEWER,
    "catalog.edit": EDITOR,
    "member.edit": EDITOR,
    "member.export": EDITOR,
    "import.run": EDITOR,
    "campaign.approve": APPROVER,
    "campaign.reject": APPROVER,
    "suppression.edit": ADMIN,
    "member.erase": ADMIN,
    "team.manage": ADMIN,
    "webhook.manage": ADMIN,
}


class PermissionDenied(GllMailError):
    """The signed-in account's role does not allow the action."""


def check_role(role: str) -> str:
    if role not in ROLES:
        raise GllMailError(f"unknown role {role!r} (use {', '.join(ROLES)})")
    return role


def rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def can(user: AdminUser | None, action: str) -> bool:
    if action not in ACTIONS:
        raise KeyError(f"no such action {action!r} in gll_mail.team.roles.ACTIONS")
    return user is not None and rank(user.role) >= rank(ACTIONS[action])


def require(user: AdminUser | None, action: str) -> AdminUser:
    """The user, when their role allows ``action``; else :class:`PermissionDenied` saying who may."""
    if can(user, action):
        return user  # type: ignore[return-value]
    if user is None:
        raise PermissionDenied(f"sign in first: {action} needs a team account")
    needed = ACTIONS[action]
    raise PermissionDenied(
        f"{user.username} is {_article(user.role)} {user.role}; {action} needs the role "
        f"{needed} or higher (an admin can change it: gll-mail admin role {user.username} {needed})"
    )


Actor = AdminUser | str
SYSTEM_ACTORS = (COMMAND_LINE, SYSTEM)


def authorize(actor: AdminUser | str | None, action: str) -> AdminUser | str:
    """Who acts in a domain function the console, the CLI and the API share: a team account, whose
    role must allow ``action``, or a system actor (:data:`~gll_mail.team.audit.COMMAND_LINE`: the CLI
    run without ``--as`` by someone with the server's shell; :data:`~gll_mail.team.audit.SYSTEM`),
    which the audit log names. None (nobody signed in) is refused."""
    if isinstance(actor, str):
        if actor not in SYSTEM_ACTORS:
            raise PermissionDenied(f"unknown actor {actor!r}: pass a team account")
        if action not in ACTIONS:
            raise KeyError(f"no such action {action!r} in gll_mail.team.roles.ACTIONS")
        return actor
    return require(actor, action)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
