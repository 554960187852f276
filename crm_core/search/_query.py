"""Searching accounts, contacts and leads: index lookup, then verification and ranking."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.db import is_postgres, open_session, plan_each_query
from crm_core.errors import InvalidInput
from crm_core.models import Account, AccountContact, person_name, table_of
from crm_core.search._index import DOCUMENTS, refresh_index
from crm_core.search._tokens import QueryPlan, normalize, phone_digits, plan_query

__all__ = ["ENTITY_NAMES", "SearchHit", "search"]

ENTITY_NAMES: dict[str, str] = {
    "account": "accounts",
    "accounts": "accounts",
    "contact": "contacts",
    "contacts": "contacts",
    "lead": "leads",
    "leads": "leads",
}
"""The entity names a user may give, and the tables they mean."""

# How many index matches are verified and ranked per query. A query that matches more rows
# than this (a bare 科技, say) is ranked among the first ones the index returns.
_CANDIDATES = 500
_ENTITY_ORDER = {"accounts": 0, "contacts": 1, "leads": 2}
_FEW_DIGITS = 6


@dataclass(frozen=True)
class SearchHit:
    """One search result."""

    entity: str
    record_id: UUID
    title: str
    detail: str
    phone: str | None
    email: str | None
    score: int
    """0-100: 100 is an exact match of a name, phone or e-mail."""
    matched: str
    """What matched: ``name``, ``company``, ``phone`` or ``email``."""


def search(
    engine: Engine,
    query: str,
    *,
    entities: Collection[str] | None = None,
    limit: int = 20,
    refresh: bool = True,
) -> list[SearchHit]:
    """Find accounts, contacts and leads by name (any part of it), phone (any format) or e-mail.

    The best matches come first. ``entities`` narrows the search (``accounts``, ``contacts``,
    ``leads``); ``refresh`` first brings the index up to date with every change.
    """
    plan = plan_query(query)
    if plan is None:
        raise InvalidInput(f"there is nothing to search for in {query!r}")
    if limit < 1:
        raise InvalidInput("the limit must be at least 1")
    tables = _tables(entities)
    if refresh:
        refresh_index(engine)
    with open_session(engine) as session:
        # A generic plan cannot know how rare the tokens are: plan each search for its own.
        plan_each_query(session)
        candidates: set[tuple[str, UUID]] = set()
        for terms in plan.lookups:
            candidates |= _lookup(session, terms, tables)
        hits = [
            hit
            for entity, ids in _group(candidates).items()
            for hit in _rank(session, plan, entity, ids)
        ]
    hits.sort(key=lambda hit: (-hit.score, _ENTITY_ORDER[hit.entity], hit.title))
    return hits[:limit]


def _tables(entities: Collection[str] | None) -> list[str]:
    if not entities:
        return list(DOCUMENTS)
    tables: list[str] = []
    for name in entities:
        table = ENTITY_NAMES.get(name.strip().lower())
        if table is None:
            raise InvalidInput(f"cannot search {name!r}: choose from account, contact, lead")
        tables.append(table)
    return sorted(set(tables))


def _lookup(
    session: Session, terms: Iterable[tuple[str, bool]], tables: list[str]
) -> set[tuple[str, UUID]]:
    if is_postgres(session):
        statement = text(
            "SELECT entity, record_id FROM search_doc "
            "WHERE array_to_tsvector(string_to_array(tokens, ' ')) @@ CAST(:query AS tsquery) "
            "AND entity IN :tables LIMIT :limit"
        )
        query = " & ".join(_tsquery_term(token, prefix) for token, prefix in terms)
    else:
        statement = text(
            "SELECT d.entity, d.record_id FROM search_fts JOIN search_doc AS d "
            "ON d.id = search_fts.rowid "
            "WHERE search_fts MATCH :query AND d.entity IN :tables LIMIT :limit"
        )
        query = " AND ".join(_fts_term(token, prefix) for token, prefix in terms)
    statement = statement.bindparams(bindparam("tables", expanding=True))
    rows = session.execute(statement, {"query": query, "tables": tables, "limit": _CANDIDATES})
    return {(row.entity, _as_uuid(row.record_id)) for row in rows}


def _fts_term(token: str, prefix: bool) -> str:
    quoted = '"' + token.replace('"', '""') + '"'
    return quoted + "*" if prefix else quoted


def _tsquery_term(token: str, prefix: bool) -> str:
    quoted = "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + ":*" if prefix else quoted


def _as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _group(candidates: set[tuple[str, UUID]]) -> dict[str, list[UUID]]:
    grouped: dict[str, list[UUID]] = {}
    for entity, record_id in candidates:
        grouped.setdefault(entity, []).append(record_id)
    return grouped


# --------------------------------------------------------------------------- ranking


def _rank(session: Session, plan: QueryPlan, entity: str, ids: list[UUID]) -> list[SearchHit]:
    """Load the candidates, drop the ones the index matched only loosely, and score the rest."""
    table = table_of(DOCUMENTS[entity].model)
    columns = [table.c[name] for name in _SHOWN[entity]]
    rows: list[Any] = list(
        session.execute(
            select(*columns).where(among(session, table.c.id, ids), table.c.deleted_at.is_(None))
        )
    )
    companies = _contact_accounts(session, [r.id for r in rows]) if entity == "contacts" else {}
    hits: list[SearchHit] = []
    for record in rows:
        score, matched = _score(plan, entity, record)
        if score == 0:
            continue
        title, detail = _describe(entity, record, companies)
        hits.append(
            SearchHit(
                entity=entity,
                record_id=record.id,
                title=title,
                detail=detail,
                phone=getattr(record, "mobile", None) or record.phone,
                email=record.email,
                score=score,
                matched=matched,
            )
        )
    return hits


# The columns a search result is scored on and shown with.
_SHOWN: dict[str, tuple[str, ...]] = {
    "accounts": (
        "id",
        "name",
        "short_name",
        "credit_code",
        "phone",
        "email",
        "province",
        "city",
        "industry",
    ),
    "contacts": ("id", "first_name", "last_name", "title", "phone", "mobile", "email"),
    "leads": ("id", "name", "company", "phone", "mobile", "email"),
}


def _score(plan: QueryPlan, entity: str, record: Any) -> tuple[int, str]:
    if plan.kind == "phone":
        phones = [phone_digits(getattr(record, name)) for name in DOCUMENTS[entity].phones]
        score = max((_phone_score(plan.text, digits) for digits in phones if digits), default=0)
        if score:
            return score, "phone"
    if plan.kind == "email":
        email = normalize(record.email or "").strip()
        if not email:
            return 0, "email"
        if email == plan.text:
            return 100, "email"
        return (85 if email.startswith(plan.text) else 0), "email"
    best, matched = 0, "name"
    for field, text_value, weight in _texts(entity, record):
        score = _text_score(plan.text, normalize(text_value)) - weight
        if score > best:
            best, matched = score, field
    return best, matched


def _phone_score(query: str, digits: str) -> int:
    """100 for the whole number; for a few digits, the end of a number ranks above its start
    (people remember the last four), for more digits the start ranks first."""
    if digits == query:
        return 100
    starts, ends = digits.startswith(query), digits.endswith(query)
    first, second = (ends, starts) if len(query) <= _FEW_DIGITS else (starts, ends)
    if first:
        return 85
    return 75 if second else 0


def _text_score(query: str, value: str) -> int:
    """100 for the whole value, 90 for its start, 60-80 inside it, 50 for all words apart."""
    if not value:
        return 0
    if value == query:
        return 100
    if value.startswith(query):
        return 90
    if query in value:
        return 80 - min(len(value) - len(query), 20)
    words = query.split()
    if len(words) > 1 and all(word in value for word in words):
        return 50
    return 0


def _texts(entity: str, record: Any) -> list[tuple[str, str, int]]:
    """(field, text, penalty) of the searchable texts of a record; other fields rank lower."""
    if entity == "accounts":
        return [
            ("name", record.name or "", 0),
            ("name", record.short_name or "", 5),
            ("credit code", record.credit_code or "", 0),
            ("email", record.email or "", 20),
        ]
    if entity == "contacts":
        first, last = record.first_name or "", record.last_name or ""
        return [
            ("name", f"{last}{first}", 0),
            ("name", f"{first} {last}".strip(), 0),
            ("email", record.email or "", 20),
        ]
    return [
        ("name", record.name or "", 0),
        ("company", record.company or "", 10),
        ("email", record.email or "", 20),
    ]


def _describe(entity: str, record: Any, companies: dict[UUID, str]) -> tuple[str, str]:
    if entity == "accounts":
        place = " ".join(part for part in (record.province, record.city) if part)
        return record.name, " · ".join(part for part in (place, record.industry) if part)
    if entity == "contacts":
        detail = " · ".join(p for p in (record.title, companies.get(record.id)) if p)
        return person_name(record.first_name, record.last_name), detail
    return record.name or record.company or "", record.company or ""


def _contact_accounts(session: Session, contact_ids: list[UUID]) -> dict[UUID, str]:
    """The name of each contact's account (its primary one first)."""
    rows = session.execute(
        select(AccountContact.contact_id, Account.name)
        .join(Account, Account.id == AccountContact.account_id)
        .where(AccountContact.contact_id.in_(contact_ids))
        .order_by(AccountContact.is_primary)
    )
    return {row.contact_id: row.name for row in rows}
