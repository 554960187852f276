"""The bundled sample: realistic Chinese and English customers for the demo and for trying
Tongbu out (``sample_crm.json``; ``make_sample.py`` regenerates it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any
from uuid import UUID, uuid5

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crm_core.db import ORIGIN_CRM, open_session
from crm_core.models import (
    Account,
    AccountContact,
    Activity,
    ActivityType,
    Base,
    Contact,
    ContactRole,
    Entity,
    Lead,
    Opportunity,
    Pipeline,
    Product,
    Stage,
    Team,
    TeamMember,
    User,
    utcnow,
)

__all__ = ["SampleSummary", "load_sample", "sample_id"]

_NAMESPACE = UUID("5f0c2a1e-9d7b-4c1a-8e55-7a6f3b2d1c00")


def sample_id(kind: str, key: str) -> UUID:
    """The fixed id of a sample record, so loading the sample twice finds it again."""
    return uuid5(_NAMESPACE, f"{kind}:{key}")


@dataclass(frozen=True)
class SampleSummary:
    """What loading the sample did."""

    already_loaded: bool
    counts: dict[str, int]


def load_sample(engine: Engine) -> SampleSummary:
    """Load the bundled sample into the CRM core, once; a second call changes nothing."""
    data = json.loads(resources.files(__package__).joinpath("sample_crm.json").read_text("utf-8"))
    with open_session(engine, origin=ORIGIN_CRM) as session:
        if session.get(Team, sample_id("team", data["teams"][0]["key"])) is not None:
            return SampleSummary(already_loaded=True, counts={})
        counts = _Loader(session, data).load()
    return SampleSummary(already_loaded=False, counts=counts)


class _Loader:
    def __init__(self, session: Session, data: dict[str, Any]) -> None:
        self.session = session
        self.data = data
        self.pending: dict[str, list[Entity]] = {}
        self.stages: dict[str, UUID] = {}
        self.pipeline_id: UUID | None = None
        self.team_of: dict[str, UUID] = {}
        """The team of each user, by the user's key."""
        self.now = utcnow()

    def add(self, record: Entity) -> None:
        self.pending.setdefault(type(record).__tablename__, []).append(record)

    def load(self) -> dict[str, int]:
        self._teams_and_users()
        self._pipelines()
        self._products()
        for account in self.data["accounts"]:
            self._account(account)
        for lead in self.data["leads"]:
            self._lead(lead)
        # Without relationships the unit of work does not order tables: write referenced
        # tables first.
        for table in Base.metadata.sorted_tables:
            if table.name in self.pending:
                self.session.add_all(self.pending[table.name])
                self.session.flush()
        return {table: len(records) for table, records in self.pending.items()}

    def _teams_and_users(self) -> None:
        for team in self.data["teams"]:
            self.add(
                Team(id=sample_id("team", team["key"]), name=team["name"], region=team["region"])
            )
        for user in self.data["users"]:
            user_id = sample_id("user", user["key"])
            team_id = sample_id("team", user["team"])
            self.add(
                User(
                    id=user_id,
                    name=user["name"],
                    email=user["email"],
                    phone=user["phone"],
                    team_id=team_id,
                )
            )
            self.add(TeamMember(team_id=team_id, user_id=user_id, role="member"))
            self.team_of[user["key"]] = team_id

    def _pipelines(self) -> None:
        for pipeline in self.data["pipelines"]:
            pipeline_id = sample_id("pipeline", pipeline["key"])
            self.pipeline_id = self.pipeline_id or pipeline_id
            self.add(Pipeline(id=pipeline_id, name=pipeline["name"], is_default=True))
            for position, stage in enumerate(pipeline["stages"], start=1):
                stage_id = sample_id("stage", stage["key"])
                self.stages[stage["key"]] = stage_id
                self.add(
                    Stage(
                        id=stage_id,
                        pipeline_id=pipeline_id,
                        name=stage["name"],
                        position=position,
                        probability=stage["probability"],
                        is_won=stage["is_won"],
                        is_lost=stage["is_lost"],
                    )
                )

    def _products(self) -> None:
        for product in self.data["products"]:
            self.add(
                Product(
                    id=sample_id("product", product["key"]),
                    sku=product["sku"],
                    name=product["name"],
                    unit=product["unit"],
                    unit_price=Decimal(product["unit_price"]),
                    currency=product["currency"],
                )
            )

    def _account(self, data: dict[str, Any]) -> None:
        account_id = sample_id("account", data["key"])
        owner_id = _user(data.get("owner"))
        self.add(
            Account(
                id=account_id,
                name=data["name"],
                credit_code=data["credit_code"],
                industry=data["industry"],
                phone=data["phone"],
                email=data["email"],
                website=data["website"],
                address=data["address"],
                city=data["city"],
                province=data["province"],
                country=data["country"],
                owner_id=owner_id,
                team_id=self._team(data.get("owner")),
                source="sample",
                status="customer",
            )
        )
        targets: dict[str, tuple[str, UUID]] = {"account": ("accounts", account_id)}
        for contact in data["contacts"]:
            contact_id = sample_id("contact", contact["key"])
            targets[contact["key"]] = ("contacts", contact_id)
            self.add(
                Contact(
                    id=contact_id,
                    first_name=contact["first_name"],
                    last_name=contact["last_name"],
                    title=contact["title"],
                    department=contact["department"],
                    phone=contact["phone"],
                    mobile=contact["mobile"],
                    email=contact["email"],
                    owner_id=owner_id,
                )
            )
            self.add(
                AccountContact(
                    account_id=account_id,
                    contact_id=contact_id,
                    role=ContactRole(contact["role"]),
                    is_primary=contact["is_primary"],
                )
            )
        for opportunity in data["opportunities"]:
            opportunity_id = sample_id("opportunity", opportunity["key"])
            targets[opportunity["key"]] = ("opportunities", opportunity_id)
            stage = opportunity["stage"]
            self.add(
                Opportunity(
                    id=opportunity_id,
                    name=opportunity["name"],
                    account_id=account_id,
                    contact_id=sample_id("contact", opportunity["contact"])
                    if opportunity.get("contact")
                    else None,
                    pipeline_id=self.pipeline_id,
                    stage_id=self.stages[stage],
                    amount=Decimal(opportunity["amount"]),
                    currency=opportunity["currency"],
                    expected_close_date=date.fromisoformat(opportunity["expected_close"]),
                    closed_at=self.now if stage in {"won", "lost"} else None,
                    owner_id=_user(opportunity.get("owner")),
                    team_id=self._team(opportunity.get("owner")),
                )
            )
        for activity in data["activities"]:
            related_type, related_id = targets[activity["on"]]
            self.add(
                Activity(
                    type=ActivityType(activity["type"]),
                    subject=activity["subject"],
                    body=activity["body"],
                    occurred_at=self.now - timedelta(days=activity["days_ago"]),
                    related_type=related_type,
                    related_id=related_id,
                    account_id=account_id,
                    owner_id=_user(activity.get("owner")),
                )
            )

    def _lead(self, data: dict[str, Any]) -> None:
        self.add(
            Lead(
                id=sample_id("lead", data["key"]),
                name=data["name"],
                company=data["company"],
                title=data["title"],
                phone=data["phone"],
                mobile=data["mobile"],
                email=data["email"],
                source=data["source"],
                industry=data["industry"],
                city=data["city"],
                province=data["province"],
                owner_id=_user(data.get("owner")),
                team_id=self._team(data.get("owner")),
            )
        )

    def _team(self, user_key: str | None) -> UUID | None:
        """The team of the owner (a user's key), as records of the sample are in their
        owner's team."""
        return self.team_of.get(user_key) if user_key else None


def _user(key: str | None) -> UUID | None:
    return sample_id("user", key) if key else None
