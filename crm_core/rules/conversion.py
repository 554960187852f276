"""Lead conversion: a qualified lead becomes an account (or joins an existing one), a contact
and an opportunity, keeping its history and its links.

The account is the one given, or the one the dedup matcher at the door
(:class:`crm_core.dedup._door.Matcher`, the same one sync and migration use) is sure the lead's
company is, or else a new one made from the lead's company fields. A valid unified social
credit code in the lead's custom fields (``credit_code``) identifies the company outright. When
the matcher only finds a resemblance (its grey zone), nothing is decided for the user:
conversion is refused with :class:`AccountChoiceNeeded`, which names the candidate, so the
user converts into it (``account_id``) or into a new account (``new_account``). A conversion
is interactive, and a duplicate account made by mistake costs a merge later.

The contact is made from the lead's person fields, or, when the account already has a contact
with the same e-mail address or mobile number, that contact is reused. The opportunity (unless
not wanted) starts on the first open stage of the default pipeline.

Nothing of the lead's history moves away from it: the lead stays, converted, with its
``converted_*`` ids pointing to what it became.

* Its activities keep ``related_type``/``related_id`` (the lead) and get ``account_id`` (the
  account): the lead's history is intact and the account's history, one lookup by
  ``account_id``, shows them.
* Its tasks and documents stay linked to the lead (they have no account column); the account
  reaches them through its converted leads (``leads.converted_account_id``).
* Its campaign memberships stay, and the contact becomes a member of the same campaigns with
  the same status (unless it already is one).
* Its links to external systems (``xref``) are not touched: they keep pointing to the lead.

Everything happens in the caller's session, so one transaction: if any step fails nothing is
written. :func:`convert` opens that session as the CRM (origin ``crm``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm_core import records
from crm_core._credit_code import normalise_credit_code
from crm_core.db import ORIGIN_CRM, open_session
from crm_core.dedup._door import Matcher, index_match_keys, refresh_match_keys
from crm_core.dedup._normalise import normalise_email, normalise_phone
from crm_core.dedup._person_name import COMPOUND_SURNAMES
from crm_core.errors import InvalidInput
from crm_core.models import (
    Account,
    AccountContact,
    Activity,
    CampaignMember,
    Contact,
    Document,
    Lead,
    LeadStatus,
    Opportunity,
    OwnershipHistory,
    Pipeline,
    Stage,
    Task,
)
from crm_core.rules.scoring import OPEN_STATUSES

__all__ = [
    "DEFAULT_CURRENCY",
    "AccountChoiceNeeded",
    "Carried",
    "Conversion",
    "convert",
    "convert_lead",
    "split_person_name",
]

DEFAULT_CURRENCY = "CNY"
"""The currency of an opportunity amount given without one."""

_LEADS = Lead.__tablename__
_ACCOUNTS = Account.__tablename__
_CONTACTS = Contact.__tablename__
_CREDIT_CODE = "credit_code"
"""The custom field of a lead that may hold its company's unified social credit code."""


class AccountChoiceNeeded(InvalidInput):
    """The lead's company resembles an existing account, but not surely enough to link it."""

    def __init__(
        self, message: str, *, candidate_id: UUID, probability: float, evidence: str
    ) -> None:
        super().__init__(message)
        self.candidate_id = candidate_id
        self.probability = probability
        self.evidence = evidence


@dataclass(frozen=True)
class Carried:
    """What of the lead's history and links the conversion carried over."""

    activities: int
    """Activities of the lead now also in the account's history (``account_id``)."""
    tasks: int
    """Tasks of the lead (they stay linked to it)."""
    documents: int
    """Documents of the lead (they stay linked to it)."""
    campaigns: int
    """Campaigns of the lead the contact is now a member of too."""


@dataclass(frozen=True)
class Conversion:
    """What converting one lead did."""

    lead_id: UUID
    account_id: UUID
    account_name: str
    account_created: bool
    matched_by: str | None
    """Why an existing account was chosen by matching (``credit code``, ``name + phone``...);
    None when it was created or given."""
    contact_id: UUID
    contact_name: str
    contact_created: bool
    opportunity_id: UUID | None
    moved: Carried
    probability: float | None = None
    """The match probability of a matched account."""
    notes: tuple[str, ...] = ()
    """Anything the user should know (a credit code that could not be kept...)."""


def convert(
    engine: Engine,
    lead_id: UUID,
    *,
    now: datetime,
    account_id: UUID | None = None,
    new_account: bool = False,
    opportunity: bool = True,
    opportunity_name: str | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    actor_id: UUID | None = None,
) -> Conversion:
    """Convert a lead in one transaction, as the CRM (origin ``crm``), on behalf of
    ``actor_id``; the match keys are brought up to date first. See :func:`convert_lead`."""
    if account_id is None and not new_account:
        refresh_match_keys(engine)
    with open_session(engine, origin=ORIGIN_CRM, actor_id=actor_id) as session:
        return convert_lead(
            session,
            lead_id,
            now=now,
            account_id=account_id,
            new_account=new_account,
            opportunity=opportunity,
            opportunity_name=opportunity_name,
            amount=amount,
            currency=currency,
            actor_id=actor_id,
        )


def convert_lead(
    session: Session,
    lead_id: UUID,
    *,
    now: datetime,
    account_id: UUID | None = None,
    new_account: bool = False,
    opportunity: bool = True,
    opportunity_name: str | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    actor_id: UUID | None = None,
) -> Conversion:
    """Convert an open lead into an account, a contact and (unless ``opportunity`` is false)
    an opportunity, in the caller's session (open it with an origin so change capture
    attributes the writes; bring the match keys up to date first, see :func:`convert`).

    The account is ``account_id``, or a new one when ``new_account``, or else the account the
    dedup matcher is sure the lead's company is, or a new one when it finds none. Raises
    :class:`NotFound` for an unknown lead or account, :class:`AccountChoiceNeeded` when the
    company only resembles an account, :class:`InvalidInput` when the lead is not open or the
    values do not fit. Raises before writing, or leaves the caller's transaction to roll back.
    """
    if account_id is not None and new_account:
        raise InvalidInput("give an account to convert the lead into, or a new account (not both)")
    currency = _currency(amount, currency)
    if amount is not None and amount < 0:
        raise InvalidInput(f"the opportunity amount may not be negative ({amount})")
    lead = records.get(session, Lead, lead_id)
    _check_open(lead)
    lead_version = lead.version
    notes: list[str] = []

    matched_by: str | None = None
    probability: float | None = None
    if account_id is not None:
        account = _given_account(session, account_id)
    elif new_account:
        account = None
    else:
        account, matched_by, probability = _matched_account(session, lead)
    account_created = account is None
    if account is None:
        account = _new_account(session, lead, now, actor_id, notes)

    contact, contact_created = _contact(session, lead, account, actor_id)
    deal = (
        _opportunity(
            session,
            lead,
            account=account,
            contact=contact,
            name=opportunity_name,
            amount=amount,
            currency=currency,
            actor_id=actor_id,
        )
        if opportunity
        else None
    )
    carried = Carried(
        activities=_roll_up_activities(session, lead.id, account.id, actor_id),
        tasks=_count_linked(session, Task, lead.id),
        documents=_count_linked(session, Document, lead.id),
        campaigns=_join_campaigns(session, lead.id, contact, actor_id),
    )
    records.update(
        session,
        Lead,
        lead.id,
        {
            "status": LeadStatus.CONVERTED,
            "converted_at": now,
            "converted_account_id": account.id,
            "converted_contact_id": contact.id,
            "converted_opportunity_id": deal.id if deal is not None else None,
        },
        expected_version=lead_version,
        actor_id=actor_id,
    )
    session.add(
        OwnershipHistory(
            entity=_LEADS,
            record_id=lead.id,
            pool=lead.pool,
            action="convert",
            from_owner_id=lead.owner_id,
            to_owner_id=lead.owner_id,
            actor_id=actor_id,
            reason=f"converted into account {account.id}",
            at=now,
        )
    )
    if account_created:
        index_match_keys(session, _ACCOUNTS, [account.id])
    if contact_created:
        index_match_keys(session, _CONTACTS, [contact.id])
    session.flush()
    return Conversion(
        lead_id=lead.id,
        account_id=account.id,
        account_name=account.name,
        account_created=account_created,
        matched_by=matched_by,
        contact_id=contact.id,
        contact_name=contact.display_name,
        contact_created=contact_created,
        opportunity_id=deal.id if deal is not None else None,
        moved=carried,
        probability=probability,
        notes=tuple(notes),
    )


def split_person_name(name: str | None) -> tuple[str | None, str | None]:
    """(first name, last name) of a name written whole: 张伟 -> (伟, 张), 欧阳娜娜 -> (娜娜,
    欧阳), "John Smith" -> (John, Smith); a single Latin word is the last name."""
    text = " ".join((name or "").split())
    if not text:
        return None, None
    if any("\u3400" <= char <= "\u9fff" for char in text) and " " not in text:
        family = text[:2] if len(text) > 2 and text[:2] in COMPOUND_SURNAMES else text[:1]
        return text[len(family) :] or None, family
    first, _, last = text.rpartition(" ")
    return first or None, last


def _currency(amount: Decimal | None, currency: str | None) -> str | None:
    if currency is None:
        return DEFAULT_CURRENCY if amount is not None else None
    code = currency.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InvalidInput(f"{currency!r} is not a currency code (three letters, such as CNY)")
    return code


def _check_open(lead: Lead) -> None:
    if lead.status == LeadStatus.CONVERTED:
        when = f" on {lead.converted_at:%Y-%m-%d}" if lead.converted_at is not None else ""
        into = (
            f" into account {lead.converted_account_id}"
            if lead.converted_account_id is not None
            else ""
        )
        raise InvalidInput(f"lead {lead.id} was already converted{when}{into}")
    if lead.status not in OPEN_STATUSES:
        raise InvalidInput(
            f"lead {lead.id} is {lead.status.value}: only an open lead (new, working or "
            "qualified) can be converted"
        )


def _given_account(session: Session, account_id: UUID) -> Account:
    account = records.get(session, Account, account_id, include_deleted=True)
    if account.merged_into_id is not None:
        raise InvalidInput(
            f"account {account_id} was merged into {account.merged_into_id}: convert the lead "
            "into that one"
        )
    if account.deleted_at is not None:
        records.get(session, Account, account_id)  # NotFound, as for any deleted record
    return account


def _company_values(lead: Lead) -> dict[str, Any]:
    """The lead's company as the matcher reads an account."""
    return {
        "name": lead.company,
        "credit_code": normalise_credit_code(_text((lead.custom or {}).get(_CREDIT_CODE))),
        "phone": lead.phone,
        "email": lead.email,
        "city": lead.city,
        "contact_name": lead.name,
    }


def _matched_account(
    session: Session, lead: Lead
) -> tuple[Account | None, str | None, float | None]:
    """The account the lead's company surely is (and why), or None for a new one."""
    values = _company_values(lead)
    if not _text(lead.company) and values["credit_code"] is None:
        return None, None, None  # _new_account says what is missing
    holder = _credit_code_holder(session, values["credit_code"])
    if holder is not None and holder.deleted_at is None:
        return holder, "credit code", None
    [found] = Matcher.for_entity(session, _ACCOUNTS).match(session, [values])
    if found.record_id is None:
        return None, None, None
    evidence = _evidence(found.evidence)
    if found.decision == "link":
        return records.get(session, Account, found.record_id), evidence, found.probability
    candidate = records.get(session, Account, found.record_id)
    raise AccountChoiceNeeded(
        f"lead {lead.id}'s company {lead.company} resembles account {candidate.id} "
        f"{candidate.name} (match probability {found.probability:.2f}, by {evidence}) but not "
        f"surely: convert it into that account (--account {candidate.id}) or into a new one "
        "(--new-account)",
        candidate_id=candidate.id,
        probability=found.probability,
        evidence=evidence,
    )


def _evidence(comparisons: Sequence[tuple[str, str, float]]) -> str:
    """The comparisons that spoke for the match, strongest first: ``credit code + name``."""
    agreeing = sorted((weight, name) for name, _level, weight in comparisons if weight > 0)
    return " + ".join(name.replace("_", " ") for _weight, name in reversed(agreeing)) or "-"


def _credit_code_holder(session: Session, code: str | None) -> Account | None:
    """The account holding ``code`` (credit codes are unique), followed to its merge
    survivor; None when no account holds it."""
    if code is None:
        return None
    holder = session.scalar(select(Account).where(Account.credit_code == code))
    seen: set[UUID] = set()
    while holder is not None and holder.merged_into_id is not None and holder.id not in seen:
        seen.add(holder.id)
        holder = session.get(Account, holder.merged_into_id)
    return holder


def _new_account(
    session: Session, lead: Lead, now: datetime, actor_id: UUID | None, notes: list[str]
) -> Account:
    name = _text(lead.company)
    if name is None:
        raise InvalidInput(
            f"lead {lead.id} has no company: set one, or convert the lead into an existing "
            "account (--account ID)"
        )
    values: dict[str, Any] = {
        "name": name,
        "phone": lead.phone,
        "email": lead.email,
        "industry": lead.industry,
        "company_size": lead.company_size,
        "city": lead.city,
        "province": lead.province,
        "country": lead.country,
        "source": lead.source,
        "owner_id": lead.owner_id,
        "team_id": lead.team_id,
        "owned_since": now if lead.owner_id is not None else None,
    }
    code = normalise_credit_code(_text((lead.custom or {}).get(_CREDIT_CODE)))
    holder = _credit_code_holder(session, code)
    if holder is None:
        values["credit_code"] = code
    elif code is not None:
        held = "the deleted account" if holder.deleted_at is not None else "account"
        notes.append(f"the credit code {code} was not kept: {held} {holder.id} holds it")
    return records.create(session, Account, values, actor_id=actor_id)


def _contact(
    session: Session, lead: Lead, account: Account, actor_id: UUID | None
) -> tuple[Contact, bool]:
    """The account's contact with the lead's e-mail or mobile, or a new one linked to it."""
    existing = _same_person(session, lead, account.id)
    if existing is not None:
        return existing, False
    first_name, last_name = split_person_name(lead.name)
    contact = records.create(
        session,
        Contact,
        {
            "first_name": first_name,
            "last_name": last_name,
            "title": lead.title,
            "phone": lead.phone,
            "mobile": lead.mobile,
            "email": lead.email,
            "owner_id": lead.owner_id,
            "team_id": lead.team_id,
        },
        actor_id=actor_id,
    )
    has_primary = session.scalar(
        select(func.count())
        .select_from(AccountContact)
        .where(
            AccountContact.account_id == account.id,
            AccountContact.is_primary.is_(True),
            AccountContact.deleted_at.is_(None),
        )
    )
    records.create(
        session,
        AccountContact,
        {
            "account_id": account.id,
            "contact_id": contact.id,
            "is_primary": not has_primary,
            "owner_id": lead.owner_id,
            "team_id": lead.team_id,
        },
        actor_id=actor_id,
    )
    return contact, True


def _same_person(session: Session, lead: Lead, account_id: UUID) -> Contact | None:
    email = normalise_email(lead.email)
    mobile = normalise_phone(lead.mobile)
    if email is None and mobile is None:
        return None
    contacts = session.scalars(
        select(Contact)
        .join(AccountContact, AccountContact.contact_id == Contact.id)
        .where(
            AccountContact.account_id == account_id,
            AccountContact.deleted_at.is_(None),
            Contact.deleted_at.is_(None),
            Contact.merged_into_id.is_(None),
        )
        .order_by(Contact.created_at, Contact.id)
    )
    for contact in contacts:
        if email is not None and normalise_email(contact.email) == email:
            return contact
        if mobile is not None and normalise_phone(contact.mobile) == mobile:
            return contact
    return None


def _opportunity(
    session: Session,
    lead: Lead,
    *,
    account: Account,
    contact: Contact,
    name: str | None,
    amount: Decimal | None,
    currency: str | None,
    actor_id: UUID | None,
) -> Opportunity:
    name = _text(name) or _opportunity_name(lead, account)
    stage = _first_open_stage(session)
    return records.create(
        session,
        Opportunity,
        {
            "name": name,
            "account_id": account.id,
            "contact_id": contact.id,
            "lead_id": lead.id,
            "pipeline_id": stage.pipeline_id if stage is not None else None,
            "stage_id": stage.id if stage is not None else None,
            "amount": amount,
            "currency": currency,
            "source": lead.source,
            "owner_id": lead.owner_id,
            "team_id": lead.team_id,
        },
        actor_id=actor_id,
    )


def _opportunity_name(lead: Lead, account: Account) -> str:
    company = _text(lead.company) or account.name
    person = _text(lead.name)
    return f"{company} – {person}" if person else company


def _first_open_stage(session: Session) -> Stage | None:
    """The first stage (lowest position) that neither wins nor loses, of the default pipeline
    (or of the only pipeline when none is marked default); None without pipelines."""
    pipelines = list(
        session.scalars(
            select(Pipeline)
            .where(Pipeline.deleted_at.is_(None))
            .order_by(Pipeline.is_default.desc(), Pipeline.name)
        )
    )
    if not pipelines or (not pipelines[0].is_default and len(pipelines) > 1):
        return None
    return session.scalar(
        select(Stage)
        .where(
            Stage.pipeline_id == pipelines[0].id,
            Stage.deleted_at.is_(None),
            Stage.is_won.is_(False),
            Stage.is_lost.is_(False),
        )
        .order_by(Stage.position)
        .limit(1)
    )


def _roll_up_activities(
    session: Session, lead_id: UUID, account_id: UUID, actor_id: UUID | None
) -> int:
    """Put the lead's live activities into the account's history; return how many it has."""
    activities = list(
        session.scalars(
            select(Activity)
            .where(
                Activity.related_type == _LEADS,
                Activity.related_id == lead_id,
                Activity.deleted_at.is_(None),
            )
            .order_by(Activity.id)
        )
    )
    for activity in activities:
        if activity.account_id != account_id:
            records.update(
                session,
                Activity,
                activity.id,
                {"account_id": account_id},
                expected_version=activity.version,
                actor_id=actor_id,
            )
    return len(activities)


def _count_linked(session: Session, model: type[Task] | type[Document], lead_id: UUID) -> int:
    """How many live records of ``model`` are linked to the lead (they stay linked)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(model)
            .where(
                model.related_type == _LEADS,
                model.related_id == lead_id,
                model.deleted_at.is_(None),
            )
        )
        or 0
    )


def _join_campaigns(
    session: Session, lead_id: UUID, contact: Contact, actor_id: UUID | None
) -> int:
    """Make the contact a member of the lead's campaigns, with the lead's status."""
    memberships = list(
        session.scalars(
            select(CampaignMember)
            .where(
                CampaignMember.member_type == _LEADS,
                CampaignMember.member_id == lead_id,
                CampaignMember.deleted_at.is_(None),
            )
            .order_by(CampaignMember.campaign_id)
        )
    )
    already = set(
        session.scalars(
            select(CampaignMember.campaign_id).where(
                CampaignMember.member_type == _CONTACTS, CampaignMember.member_id == contact.id
            )
        )
    )
    for membership in memberships:
        if membership.campaign_id in already:
            continue
        records.create(
            session,
            CampaignMember,
            _membership_values(membership, contact),
            actor_id=actor_id,
        )
    return len(memberships)


def _membership_values(membership: CampaignMember, contact: Contact) -> Mapping[str, Any]:
    return {
        "campaign_id": membership.campaign_id,
        "member_type": _CONTACTS,
        "member_id": contact.id,
        "status": membership.status,
        "responded_at": membership.responded_at,
        "owner_id": membership.owner_id,
        "team_id": membership.team_id,
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
