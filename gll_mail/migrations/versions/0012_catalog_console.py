"""catalog console: catalog names in six languages, archived topics, pods and resources, member search
indexes, and import jobs run from the console

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, translated in (("topic", ("names", "descriptions")), ("pod", ("names", "descriptions"))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in translated:
                batch_op.add_column(sa.Column(column, sa.JSON(), nullable=False, server_default="{}"))
            batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.add_column(sa.Column("titles", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("moved_to", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    for column in ("country", "language", "organization", "status"):
        op.create_index(f"ix_subscriber_{column}_id", "subscriber", [column, "id"], unique=False)
    op.create_table(
        "importjob",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("stored_path", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["adminuser.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_importjob_created_at", "importjob", ["created_at"], unique=False)
    op.create_index("ix_importjob_status", "importjob", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_importjob_status", table_name="importjob")
    op.drop_index("ix_importjob_created_at", table_name="importjob")
    op.drop_table("importjob")
    for column in ("country", "language", "organization", "status"):
        op.drop_index(f"ix_subscriber_{column}_id", table_name="subscriber")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        for column in ("updated_at", "moved_to", "archived_at", "titles"):
            batch_op.drop_column(column)
    for table in ("pod", "topic"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in ("updated_at", "archived_at", "descriptions", "names"):
                batch_op.drop_column(column)
