"""Alembic environment: runs on the connection gll_mail.db.migrate() hands over."""

from alembic import context
from sqlmodel import SQLModel

import gll_mail.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `gll-mail init` (gll_mail.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
