"""Merge links: ``xref.merged_from_id`` (a link a survivor inherited from a merged record),
``merge_history.survivorship`` (the value each field took, where from and by which rule) and
the ``cannot_link`` table (pairs an undone merge says are different records).

Hub tables only: they get no change-capture triggers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_core.models._types import server_now

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns and the table."""
    op.add_column("xref", sa.Column("merged_from_id", sa.Uuid(), nullable=True))
    op.add_column(
        "merge_history",
        sa.Column(
            "survivorship",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )
    op.create_table(
        "cannot_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_a", sa.Uuid(), nullable=False),
        sa.Column("record_b", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=server_now(), nullable=False
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("record_a < record_b", name=op.f("ck_cannot_link_ordered_pair")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cannot_link")),
        sa.UniqueConstraint(
            "entity", "record_a", "record_b", name=op.f("uq_cannot_link_entity_record_a_record_b")
        ),
    )


def downgrade() -> None:
    """Drop the table and the columns (SQLite rebuilds the tables to drop a column)."""
    op.drop_table("cannot_link")
    with op.batch_alter_table("merge_history") as batch:
        batch.drop_column("survivorship")
    with op.batch_alter_table("xref") as batch:
        batch.drop_column("merged_from_id")
