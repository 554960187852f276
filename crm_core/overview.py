"""Read models for people: an account with its contacts, open deals and recent history."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import String, and_, cast, false, or_, select
from sqlalchemy.orm import Session

from crm_core.db import is_postgres
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import (
    Account,
    AccountContact,
    Activity,
    Contact,
    Opportunity,
    Stage,
    User,
)

__all__ = [
    "AccountOverview",
    "ContactLine",
    "OpportunityLine",
    "account_overview",
    "resolve_account_id",
]


@dataclass(frozen=True)
class ContactLine:
    """A contact as listed under an account."""

    contact: Contact
    role: str
    is_primary: bool


@dataclass(frozen=True)
class OpportunityLine:
    """An open opportunity with its stage."""

    opportunity: Opportunity
    stage: str | None
    probability: int | None


@dataclass(frozen=True)
class AccountOverview:
    """Everything ``tongbu accounts show`` prints about one account."""

    account: Account
    owner: str | None
    contacts: list[ContactLine]
    open_opportunities: list[OpportunityLine]
    recent_activities: list[Activity]


def resolve_account_id(session: Session, text: str) -> UUID:
    """An account id from a full id or an unambiguous prefix of at least 6 hex digits."""
    cleaned = text.strip().lower()
    try:
        return UUID(cleaned)
    except ValueError:
        pass
    digits = cleaned.replace("-", "")
    if len(digits) < 6 or any(ch not in "0123456789abcdef" for ch in digits):
        raise InvalidInput(
            f"{text!r} is not an account id: give the full id, or at least its first 6 "
            "hexadecimal digits (find it with `tongbu search`)"
        )
    # PostgreSQL renders a uuid with dashes; SQLite stores the 32 digits as they are.
    pattern = _dashed_prefix(digits) if is_postgres(session) else digits
    column = cast(Account.id, String)
    matches = list(session.scalars(select(Account.id).where(column.like(f"{pattern}%")).limit(2)))
    if not matches:
        raise NotFound(f"no account with an id starting {text!r}")
    if len(matches) > 1:
        raise InvalidInput(f"more than one account id starts with {text!r}: give more digits")
    return matches[0]


def _dashed_prefix(digits: str) -> str:
    """Where a prefix of the 32 digits falls in the 8-4-4-4-12 dashed form."""
    groups, start = [], 0
    for size in (8, 4, 4, 4, 12):
        part = digits[start : start + size]
        if not part:
            break
        groups.append(part)
        start += size
    return "-".join(groups)


def account_overview(
    session: Session, account_id: UUID, *, activities: int = 10
) -> AccountOverview:
    """The account, its contacts, its open opportunities and its latest activities."""
    account = session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise NotFound(f"no account with id {account_id}")
    owner = session.get(User, account.owner_id) if account.owner_id else None

    contact_rows = session.execute(
        select(Contact, AccountContact.role, AccountContact.is_primary)
        .join(AccountContact, AccountContact.contact_id == Contact.id)
        .where(AccountContact.account_id == account_id, Contact.deleted_at.is_(None))
        .order_by(AccountContact.is_primary.desc(), Contact.last_name, Contact.first_name)
    ).all()
    contacts = [ContactLine(row[0], str(row[1]), bool(row[2])) for row in contact_rows]

    opportunity_rows = session.execute(
        select(Opportunity, Stage.name, Stage.probability)
        .outerjoin(Stage, Stage.id == Opportunity.stage_id)
        .where(
            Opportunity.account_id == account_id,
            Opportunity.deleted_at.is_(None),
            Opportunity.closed_at.is_(None),
            or_(Stage.id.is_(None), and_(Stage.is_won.is_(False), Stage.is_lost.is_(False))),
        )
        .order_by(Opportunity.expected_close_date)
    ).all()
    opportunities = [
        OpportunityLine(row[0], row[1], row[0].probability or row[2]) for row in opportunity_rows
    ]

    contact_ids = [line.contact.id for line in contacts]
    opportunity_ids = list(
        session.scalars(select(Opportunity.id).where(Opportunity.account_id == account_id))
    )
    related = [
        Activity.account_id == account_id,
        and_(Activity.related_type == "accounts", Activity.related_id == account_id),
        and_(Activity.related_type == "contacts", Activity.related_id.in_(contact_ids))
        if contact_ids
        else false(),
        and_(Activity.related_type == "opportunities", Activity.related_id.in_(opportunity_ids))
        if opportunity_ids
        else false(),
    ]
    recent = list(
        session.scalars(
            select(Activity)
            .where(or_(*related), Activity.deleted_at.is_(None))
            .order_by(Activity.occurred_at.desc())
            .limit(activities)
        )
    )
    return AccountOverview(
        account=account,
        owner=owner.name if owner else None,
        contacts=contacts,
        open_opportunities=opportunities,
        recent_activities=recent,
    )
