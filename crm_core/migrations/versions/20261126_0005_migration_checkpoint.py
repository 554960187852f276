"""``migration_checkpoint``: where each ``tongbu migrate`` run stands, for ``--resume``.

A hub table: it gets no change-capture triggers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_core.models._types import server_now

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "migration_checkpoint",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("options", _JSON, nullable=False),
        sa.Column(
            "phase", sa.String(length=32), server_default=sa.text("'loading'"), nullable=False
        ),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("counts", _JSON, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("plan", sa.LargeBinary(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=server_now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_run.id"],
            name=op.f("fk_migration_checkpoint_run_id_sync_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_migration_checkpoint")),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("migration_checkpoint")
