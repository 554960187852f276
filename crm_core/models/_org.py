"""Users, teams and roles: who owns and works the records."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import Entity, Json, Str32, Str64, Str255, column_default

__all__ = ["Role", "Team", "TeamMember", "User", "UserRole"]


class Team(Entity):
    """A sales or service team; teams nest through ``parent_id``."""

    __tablename__ = "teams"

    # The owner of a team is a user, and users belong to teams: the constraint is added after
    # both tables exist.
    owner_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True)
    )
    name: Mapped[Str255] = mapped_column(unique=True)
    region: Mapped[Str64 | None]
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    description: Mapped[str | None]


class User(Entity):
    """A person who works in the CRM (a salesperson, manager, service agent, admin)."""

    __tablename__ = "users"

    name: Mapped[Str255]
    email: Mapped[Str255 | None] = mapped_column(unique=True)
    phone: Mapped[Str64 | None]
    is_active: Mapped[bool] = column_default(True)
    time_zone: Mapped[Str64] = column_default("Asia/Shanghai")
    wecom_user_id: Mapped[Str64 | None]
    dingtalk_user_id: Mapped[Str64 | None]


class TeamMember(Entity):
    """A user's membership of a team, as leader or member."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    team_id: Mapped[UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Str32] = column_default("member")


class Role(Entity):
    """A named set of permissions."""

    __tablename__ = "roles"

    name: Mapped[Str64] = mapped_column(unique=True)
    description: Mapped[str | None]
    permissions: Mapped[Json] = column_default(dict)


class UserRole(Entity):
    """A role granted to a user."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role_id"),)

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role_id: Mapped[UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)
