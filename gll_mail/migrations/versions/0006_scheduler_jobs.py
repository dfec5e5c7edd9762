"""APScheduler's job table, created here rather than by the first scheduler that starts

Several `gll-mail worker` processes started together on a fresh PostgreSQL database each ran
APScheduler's own CREATE TABLE at once, and all but one could die on the race (a duplicate type
in pg_type). The table is APScheduler 3.11's SQLAlchemyJobStore layout, so the store finds it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("apscheduler_jobs"):  # made by a scheduler before this migration
        return
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_apscheduler_jobs_next_run_time", table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
