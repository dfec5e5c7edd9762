"""team console: roles and TOTP on team accounts, the audit log, campaign revisions and approvals

Existing accounts become admins (they could do everything before roles existed); accounts created
afterwards get the role the command or console gives them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("adminuser", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="admin"))
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default="0"))
    with op.batch_alter_table("adminuser", schema=None) as batch_op:
        # 'admin' was only for the accounts that existed; a new account's role is always given
        batch_op.alter_column("role", existing_type=sa.String(length=16), server_default=None)
    op.create_table(
        "auditentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("hash_before", sa.String(length=64), nullable=False),
        sa.Column("hash_after", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["adminuser.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auditentry_created_at", "auditentry", ["created_at"], unique=False)
    op.create_index("ix_auditentry_action", "auditentry", ["action"], unique=False)
    op.create_index("ix_auditentry_object", "auditentry", ["object_type", "object_id"], unique=False)
    op.create_table(
        "campaignrevision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["adminuser.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaignrevision_slug", "campaignrevision", ["slug"], unique=False)
    op.create_index("ix_campaignrevision_content_hash", "campaignrevision", ["content_hash"], unique=False)
    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=128), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["revision_id"], ["campaignrevision.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["adminuser.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approval_slug_hash", "approval", ["slug", "content_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_approval_slug_hash", table_name="approval")
    op.drop_table("approval")
    op.drop_index("ix_campaignrevision_content_hash", table_name="campaignrevision")
    op.drop_index("ix_campaignrevision_slug", table_name="campaignrevision")
    op.drop_table("campaignrevision")
    op.drop_index("ix_auditentry_object", table_name="auditentry")
    op.drop_index("ix_auditentry_action", table_name="auditentry")
    op.drop_index("ix_auditentry_created_at", table_name="auditentry")
    op.drop_table("auditentry")
    with op.batch_alter_table("adminuser", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")
        batch_op.drop_column("role")
