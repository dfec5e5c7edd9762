"""member search indexes on PostgreSQL, a covering index for audience counts, and import jobs that survive a restart (a lease and a resume
count on importjob)

The search indexes: a trigram (pg_trgm) GIN index for a part of the name, address
or organization (one index over the three, joined by a character nobody can type, so one index scan
answers the search), and a text_pattern_ops index for the start of an address

The trigram index needs the pg_trgm extension. Where it cannot be created (a managed database
without the right, an old server) the migration still succeeds with a logged warning: the search
gives the same answers, only slower. SQLite gets nothing (it has no such indexes).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

log = logging.getLogger("gll_mail.migrations")
PATTERN = "ix_subscriber_email_pattern"  # gll_mail.models.POSTGRES_SEARCH_INDEXES names both
TRIGRAMS = "ix_subscriber_search_trgm"
# the very expression members/directory.py searches (gll_mail.models.SEARCH_TEXT_SQL)
SEARCH_TEXT = "(name::text || chr(1) || email::text || chr(1) || organization::text)"


def _has_trigrams(conn) -> bool:
    """Create pg_trgm if it is missing, in a savepoint so a refusal leaves the migration usable."""
    if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first():
        return True
    try:
        with conn.begin_nested():
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning(
            "pg_trgm could not be created (%s): the member search stays correct but scans the table for a "
            "part of a name; a database owner can run CREATE EXTENSION pg_trgm and then `gll-mail init`",
            str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__,
        )
        return False
    return True


def upgrade() -> None:
    with op.batch_alter_table("importjob", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resumed", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.create_index("ix_subscriber_mailable", ["status", "paused", "language", "registered_at"], unique=False)
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.execute(f"CREATE INDEX IF NOT EXISTS {PATTERN} ON subscriber (email text_pattern_ops)")
    if _has_trigrams(conn):
        op.execute(f"CREATE INDEX IF NOT EXISTS {TRIGRAMS} ON subscriber USING gin ({SEARCH_TEXT} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in (PATTERN, TRIGRAMS):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_mailable")
    with op.batch_alter_table("importjob", schema=None) as batch_op:
        batch_op.drop_column("resumed")
        batch_op.drop_column("lease_until")
