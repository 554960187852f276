"""An index on accounts.name: sync finds existing accounts by their exact name (a mapping's
match key), one page of names at a time; without it every page scans every account.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the index."""
    op.create_index("ix_accounts_name", "accounts", ["name"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_accounts_name", table_name="accounts")
