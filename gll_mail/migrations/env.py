"""Alembic environment: runs on the connection gll_mail.db.migrate() hands over."""

from alembic import context
from sqlmodel import SQLModel

import gll_mail.models  # registers the tables on SQLModel.metadata

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `gll-mail init` (gll_mail.db.migrate)")


def include_object(obj, name, type_, reflected, compare_to):
    """Autogenerate leaves APScheduler's job table alone (migration 0006 owns it, no model does), and
    the member search's PostgreSQL-only indexes (migration 0014)."""
    if type_ == "index" and name in gll_mail.models.POSTGRES_SEARCH_INDEXES:
        return False
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table != "apscheduler_jobs"


context.configure(
    connection=connection,
    target_metadata=target_metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
