"""The team's catalog work: topics, learning pods and the resource library, as the console, the CLI
and the API do it. Each function takes the acting team account (or a system actor, see
:func:`gll_mail.team.roles.authorize`), checks its role, edits through :mod:`gll_mail.catalog` and
writes the audit log."""
