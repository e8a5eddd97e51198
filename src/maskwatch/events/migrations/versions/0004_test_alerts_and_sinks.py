"""test alerts (people.test, events.test) and the sinks a watch process delivers to

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """A ``test`` flag on people and events (false for every existing row) and ``sinks``."""
    for table in ("people", "events"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "sinks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("sinks")
    for table in ("events", "people"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("test")
