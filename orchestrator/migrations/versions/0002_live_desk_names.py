"""one live desk per owner and name

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LIVE = sa.text("state != 'deleted'")


def upgrade() -> None:
    with op.batch_alter_table("desks", schema=None) as batch_op:
        batch_op.create_index(
            "uq_desks_owner_live_name",
            ["owner_id", "name"],
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("desks", schema=None) as batch_op:
        batch_op.drop_index("uq_desks_owner_live_name")
