"""The connector contract: what the sync engine asks of an external system, and the errors it
understands (DESIGN.md section 3).

A connector reads and writes the external system's own records; it knows nothing of the CRM
schema. It reads every record changed after an opaque cursor, page by page, oldest first;
creates or updates records and says, per record, what happened; deletes records. Its errors are
grouped by what the caller should do:

* :class:`RateLimited` and :class:`TransientError`: wait (``retry_after`` when the system said
  how long) and try again;
* :class:`AuthError`: log in again, then replay once;
* :class:`PermanentError`: this record will not go through as it is: quarantine it, with the
  system's own message;
* :class:`ConfigurationError`: stop: the settings or permissions are wrong, retrying won't help.

Connectors are found through the ``tongbu.connectors`` entry-point group, so third parties can
add theirs; :func:`connector_types` lists what is installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AuthError",
    "Capability",
    "ConfigurationError",
    "Connector",
    "ConnectorError",
    "Cursor",
    "EntityDescription",
    "Page",
    "PermanentError",
    "RateLimited",
    "TransientError",
    "WriteResult",
    "connector_types",
]

ENTRY_POINT_GROUP = "tongbu.connectors"

Cursor = Any
"""An opaque, JSON-serialisable position in a system's change stream, kept by the engine."""

Record = Mapping[str, Any]
"""An external record: the system's own field names and values."""


class ConnectorError(Exception):
    """A failure talking to an external system. Its message never contains a secret."""

    retriable = False
    """Whether trying the same thing again later may succeed."""


class TransientError(ConnectorError):
    """A failure that may go away: a timeout, a dropped connection, a 5xx answer."""

    retriable = True


class RateLimited(TransientError):
    """The system asked us to slow down; ``retry_after`` is how long it said to wait, in
    seconds, when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """The credentials or session were refused or have expired: log in again, then replay."""


class PermanentError(ConnectorError):
    """The system refused this record for good (a validation error, say): quarantine it.

    ``reason`` is the system's own message; ``record`` the record it refused, when known.
    """

    def __init__(self, reason: str, record: Record | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record = record


class ConfigurationError(ConnectorError):
    """The connector is set up wrong (address, account, permission): stop and tell a person."""


class Capability(StrEnum):
    """What a connector can do with an entity."""

    READ = "read"
    INCREMENTAL = "incremental"
    """Reads can start after a cursor instead of from the beginning."""
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class EntityDescription:
    """An external entity as the engine needs to know it."""

    name: str
    """The system's name for it, e.g. ``BD_Customer``."""
    key: str
    """The field holding the external id."""
    cursor_field: str | None
    """The field incremental reads follow (e.g. a modification time), if any."""
    capabilities: frozenset[Capability]
    version_field: str | None = None
    """A field that changes with every change of the record, if the system has one."""


@dataclass(frozen=True)
class Page:
    """One page of changed records, oldest first, and the cursor to read on from.

    The engine stores ``next_cursor`` in the same transaction as the page's records, so a crash
    re-reads at most this page.
    """

    records: list[dict[str, Any]]
    next_cursor: Cursor


@dataclass(frozen=True)
class WriteResult:
    """What happened to one record of an upsert or delete (``index`` is its input position)."""

    index: int
    external_id: str | None = None
    external_version: str | None = None
    created: bool = False
    error: ConnectorError | None = field(default=None)

    @property
    def ok(self) -> bool:
        """Whether the record was written."""
        return self.error is None


@runtime_checkable
class Connector(Protocol):
    """One configured instance of an external system (an account on a server)."""

    system: str
    """The system's name, used as the origin of the writes made on its behalf (``kingdee``)."""

    def entities(self) -> Mapping[str, EntityDescription]:
        """The entities this connector knows, by name."""
        ...

    def read_changes(self, entity: str, cursor: Cursor, batch_size: int) -> Iterator[Page]:
        """Every record of ``entity`` changed after ``cursor`` (all of them for None), oldest
        first, in pages of at most ``batch_size``. Reads are inclusive of the cursor's moment and
        the engine drops what it has already seen, so records sharing one modification time
        across a page boundary are never lost."""
        ...

    def upsert(self, entity: str, records: Sequence[Record]) -> list[WriteResult]:
        """Create or update ``records`` (a record without an external id is created); one result
        per record, in input order. A retried create must not create a second record."""
        ...

    def delete(self, entity: str, external_ids: Sequence[str]) -> list[WriteResult]:
        """Delete records by external id; one result per id."""
        ...

    def close(self) -> None:
        """Release the connection (the engine calls it at the end of a run)."""
        ...


def connector_types() -> dict[str, Any]:
    """The connector types installed, by name: the objects published under the
    ``tongbu.connectors`` entry-point group (a connector package's factory)."""
    found: dict[str, Any] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        found[entry_point.name] = entry_point.load()
    return found
