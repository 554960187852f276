"""The CRM rules' tables and columns: the public pool of accounts and leads (``pool``,
``pool_locked``, ``owned_since``), ``ownership_history``, the ``notification`` outbox and
``rule_state``.

Accounts and leads gain columns, so their change-capture triggers are re-installed; the new
tables are hub tables, without triggers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_core import capture
from crm_core.models._types import server_now

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_POOL_TABLES = ("accounts", "leads")


def upgrade() -> None:
    """Add the pool columns (and re-install capture), then create the tables."""
    bind = op.get_bind()
    for table in _POOL_TABLES:
        op.add_column(table, sa.Column("pool", sa.String(length=64), nullable=True))
        op.add_column(
            table,
            sa.Column("pool_locked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        )
        op.add_column(table, sa.Column("owned_since", sa.DateTime(timezone=True), nullable=True))
        op.create_index(op.f(f"ix_{table}_pool_owner_id"), table, ["pool", "owner_id"])
        capture.install_capture(bind, table)
    op.create_table(
        "ownership_history",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("pool", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_owner_id", sa.Uuid(), nullable=True),
        sa.Column("to_owner_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=server_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownership_history")),
    )
    op.create_index(
        op.f("ix_ownership_history_entity_record_id_at"),
        "ownership_history",
        ["entity", "record_id", "at"],
    )
    op.create_index(
        op.f("ix_ownership_history_actor_id_action_at"),
        "ownership_history",
        ["actor_id", "action", "at"],
    )
    op.create_table(
        "notification",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", _JSON, server_default=sa.text("'[]'"), nullable=False),
        sa.Column(
            "status", sa.String(length=32), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=server_now(),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=server_now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("key", name=op.f("uq_notification_key")),
    )
    op.create_index(
        op.f("ix_notification_status_next_attempt_at"),
        "notification",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "rule_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("state", _JSON, server_default=sa.text("'{}'"), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=server_now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rule_state")),
    )


def downgrade() -> None:
    """Drop the tables, then the columns (and re-install capture without them)."""
    bind = op.get_bind()
    op.drop_table("rule_state")
    op.drop_index(op.f("ix_notification_status_next_attempt_at"), table_name="notification")
    op.drop_table("notification")
    op.drop_index(op.f("ix_ownership_history_actor_id_action_at"), table_name="ownership_history")
    op.drop_index(op.f("ix_ownership_history_entity_record_id_at"), table_name="ownership_history")
    op.drop_table("ownership_history")
    for table in _POOL_TABLES:
        capture.drop_capture(bind, table)
        op.drop_index(op.f(f"ix_{table}_pool_owner_id"), table_name=table)
        for column in ("owned_since", "pool_locked", "pool"):
            # Native DROP COLUMN (SQLite 3.35+): a batch rebuild would lose the foreign keys
            # other tables hold on accounts and leads.
            bind.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        capture.install_capture(bind, table)
