"""`gll-mail campaign …`: the team's commands for one campaign, from check to report.

Authoring commands (check, preview, test, audience) live in ``cli/authoring.py``; sending commands
(schedule, send, status, pause, resume, cancel, retry-failed, list) in ``cli/sending.py``.
"""

from __future__ import annotations

import importlib

import click


@click.group()
def campaign() -> None:
    """Check, preview, test, schedule, send and follow campaigns."""


def register(main: click.Group) -> None:
    for name in ("authoring", "sending", "reporting", "approvals"):
        try:
            module = importlib.import_module(f"gll_mail.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gll_mail.cli.{name}":
                raise
            continue
        module.register(campaign)
    main.add_command(campaign)
