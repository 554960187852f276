"""The search index: one row of tokens per account, contact and lead, kept up to date from the
change feed.

The index follows ``change_log`` like any other consumer: :func:`refresh_index` re-tokenizes the
records changed since its cursor, whoever changed them (the hub, a bulk load, or a plain
``UPDATE`` from ``psql``), and every search refreshes first, so results are never stale. Bulk
loads do not pay for indexing row by row; the next refresh indexes their rows in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from crm_core._follow import follow_feed, rebuild
from crm_core._values import among
from crm_core.db import analyze, is_postgres
from crm_core.models import Account, Contact, Entity, Lead, SearchDoc, table_of
from crm_core.search._tokens import email_tokens, phone_tokens, text_tokens

__all__ = ["DOCUMENTS", "DocumentSpec", "rebuild_index", "refresh_index"]

CONSUMER = "search"
_ANALYZE_AFTER = 10_000


@dataclass(frozen=True)
class DocumentSpec:
    """Which fields of an entity are searchable, and how."""

    model: type[Entity]
    texts: Callable[[Any], Iterable[str | None]]
    """Free text of a row (names): indexed as CJK bigrams and words."""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    """Every column the tokens are made from."""

    def tokens(self, row: Any) -> list[str]:
        """The distinct tokens of one row, in a stable order."""
        tokens: list[str] = []
        for text in self.texts(row):
            tokens.extend(text_tokens(text))
        for name in self.phones:
            tokens.extend(phone_tokens(getattr(row, name)))
        for name in self.emails:
            tokens.extend(email_tokens(getattr(row, name)))
        return list(dict.fromkeys(tokens))


def _contact_names(row: Any) -> Iterable[str | None]:
    first, last = row.first_name or "", row.last_name or ""
    return (f"{last}{first}", f"{first} {last}")


DOCUMENTS: dict[str, DocumentSpec] = {
    "accounts": DocumentSpec(
        Account,
        texts=lambda row: (row.name, row.short_name, row.credit_code),
        phones=("phone",),
        emails=("email",),
        columns=("name", "short_name", "credit_code", "phone", "email"),
    ),
    "contacts": DocumentSpec(
        Contact,
        texts=_contact_names,
        phones=("phone", "mobile"),
        emails=("email",),
        columns=("first_name", "last_name", "phone", "mobile", "email"),
    ),
    "leads": DocumentSpec(
        Lead,
        texts=lambda row: (row.name, row.company),
        phones=("phone", "mobile"),
        emails=("email",),
        columns=("name", "company", "phone", "mobile", "email"),
    ),
}


def refresh_index(
    engine: Engine, *, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Bring the index up to date with the change feed; return how many records were indexed.

    Safe to run from several processes at once: they take turns on the cursor row.
    """

    def derive(session: Session, touched: dict[str, set[UUID]]) -> None:
        for entity, ids in touched.items():
            index_records(session, entity, list(ids))

    indexed = follow_feed(
        engine, CONSUMER, DOCUMENTS, derive, batch_size=batch_size, progress=progress
    )
    if indexed >= _ANALYZE_AFTER:
        analyze(engine, "search_doc")
    return indexed


def rebuild_index(
    engine: Engine, *, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Drop the index and build it again from the entity tables; return the records indexed."""

    def derive(session: Session, touched: dict[str, set[UUID]]) -> None:
        for entity, ids in touched.items():
            index_records(session, entity, sorted(ids))

    tables = {entity: table_of(spec.model) for entity, spec in DOCUMENTS.items()}
    indexed = rebuild(
        engine,
        CONSUMER,
        tables,
        derive,
        derived=SearchDoc,
        batch_size=batch_size,
        progress=progress,
    )
    analyze(engine, "search_doc")
    return indexed


def index_records(session: Session, entity: str, ids: Sequence[UUID]) -> None:
    """Re-tokenize these records of ``entity`` (deleted ones leave the index)."""
    spec = DOCUMENTS[entity]
    model = spec.model
    columns = [model.id, model.deleted_at, *(model.__table__.c[name] for name in spec.columns)]
    docs = table_of(SearchDoc)
    session.execute(
        delete(docs).where(docs.c.entity == entity, among(session, docs.c.record_id, ids))
    )
    documents = [
        (entity, row.id, " ".join(spec.tokens(row)))
        for row in session.execute(
            select(*columns).where(among(session, table_of(model).c.id, ids))
        )
        if row.deleted_at is None
    ]
    if not documents:
        return
    connection: Any = session.connection().connection.driver_connection
    if is_postgres(session):
        # COPY: one statement for the batch (the GIN index takes the rows in one go).
        with connection.cursor().copy(
            "COPY search_doc (entity, record_id, tokens) FROM STDIN"
        ) as copy:
            for entity_name, record_id, tokens in documents:
                copy.write_row((entity_name, str(record_id), tokens))
    else:
        connection.executemany(
            "INSERT INTO search_doc (entity, record_id, tokens) VALUES (?, ?, ?)",
            [(entity_name, record_id.hex, tokens) for entity_name, record_id, tokens in documents],
        )
