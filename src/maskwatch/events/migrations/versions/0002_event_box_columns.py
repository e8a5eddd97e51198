"""event box as four numbers, not "x1,y1,x2,y2" text

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("x1", "y1", "x2", "y2")


def upgrade() -> None:
    """Add x1, y1, x2, y2, fill them from the text column, then drop it."""
    with op.batch_alter_table("events") as batch_op:
        for name in _COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    conn = op.get_bind()
    events = sa.table("events", sa.column("id", sa.String), sa.column("box", sa.String), *map(sa.column, _COLUMNS))
    for event_id, box in conn.execute(sa.select(events.c.id, events.c.box)).all():
        try:
            values = [float(v) for v in (box or "").split(",")]
        except ValueError:
            values = []
        values = values if len(values) == 4 else [0.0] * 4
        conn.execute(events.update().where(events.c.id == event_id).values(dict(zip(_COLUMNS, values))))
    with op.batch_alter_table("events") as batch_op:
        for name in _COLUMNS:
            batch_op.alter_column(name, existing_type=sa.Float(), nullable=False)
        batch_op.drop_column("box")


def downgrade() -> None:
    """Back to the text column."""
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("box", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    events = sa.table("events", sa.column("id", sa.String), sa.column("box", sa.String), *map(sa.column, _COLUMNS))
    for row in conn.execute(sa.select(events.c.id, *(events.c[n] for n in _COLUMNS))).all():
        text = ",".join(f"{v:.1f}" for v in row[1:])
        conn.execute(events.update().where(events.c.id == row[0]).values(box=text))
    with op.batch_alter_table("events") as batch_op:
        batch_op.alter_column("box", existing_type=sa.String(length=64), nullable=False)
        for name in _COLUMNS:
            batch_op.drop_column(name)
