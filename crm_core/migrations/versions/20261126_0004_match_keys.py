"""Matching at the door: ``match_key`` (the indexed blocking keys of accounts and contacts) and
``match_review`` (records created in the grey zone, for a person to look at).

Hub tables only: they get no change-capture triggers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_core.models._types import server_now

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "match_key",
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("entity", "key", "record_id", name=op.f("pk_match_key")),
    )
    op.create_index(
        op.f("ix_match_key_entity_record_id"), "match_key", ["entity", "record_id"], unique=False
    )
    op.create_table(
        "match_review",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("evidence", _JSON, nullable=True),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), server_default=sa.text("'open'"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=server_now(), nullable=False
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_review")),
    )
    op.create_index(
        op.f("ix_match_review_entity_status"), "match_review", ["entity", "status"], unique=False
    )


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index(op.f("ix_match_review_entity_status"), table_name="match_review")
    op.drop_table("match_review")
    op.drop_index(op.f("ix_match_key_entity_record_id"), table_name="match_key")
    op.drop_table("match_key")
