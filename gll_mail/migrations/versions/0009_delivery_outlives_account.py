"""deliveries outlive a deleted account: subscriber_id becomes NULL instead of the row going

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite's foreign keys have no names; in batch mode this convention names the reflected one
CONVENTION = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _replace_fk(ondelete: str, nullable: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("delivery", recreate="always", naming_convention=CONVENTION) as batch_op:
            batch_op.drop_constraint("fk_delivery_subscriber_id_subscriber", type_="foreignkey")
            batch_op.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=nullable)
            batch_op.create_foreign_key(
                "fk_delivery_subscriber_id_subscriber", "subscriber", ["subscriber_id"], ["id"], ondelete=ondelete
            )
        return
    name = next(
        fk["name"]
        for fk in sa.inspect(bind).get_foreign_keys("delivery")
        if fk["constrained_columns"] == ["subscriber_id"]
    )
    op.drop_constraint(name, "delivery", type_="foreignkey")
    op.alter_column("delivery", "subscriber_id", existing_type=sa.Integer(), nullable=nullable)
    op.create_foreign_key(name, "delivery", "subscriber", ["subscriber_id"], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _replace_fk("SET NULL", True)


def downgrade() -> None:
    op.execute("DELETE FROM delivery WHERE subscriber_id IS NULL")
    _replace_fk("CASCADE", False)
