"""Errors a user can act on.

Every error the ``tongbu`` command reports without a traceback is a :class:`TongbuError`; its
message is one clear sentence that says what went wrong and, where it helps, what to do.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatabaseError",
    "InvalidInput",
    "NotFound",
    "SchemaNotReady",
    "StaleVersionError",
    "TongbuError",
]


class TongbuError(Exception):
    """Base class of the errors the command line prints as a single sentence."""


class ConfigError(TongbuError):
    """A setting (environment variable, option or file) is missing or malformed."""


class DatabaseError(TongbuError):
    """The database cannot be reached or refused an operation."""


class SchemaNotReady(DatabaseError):
    """The database has not been migrated to the schema this version of Tongbu needs."""


class NotFound(TongbuError):
    """A record that was asked for by id does not exist."""


class InvalidInput(TongbuError):
    """A value given by the user or a caller does not fit the schema."""


class StaleVersionError(TongbuError):
    """An update carried a version that is no longer the record's current version.

    Someone else changed the record since it was read; nothing was written. Read the record
    again and re-apply the change.
    """

    @classmethod
    def for_record(
        cls, entity: str, record_id: object, expected: int, current: int | None
    ) -> StaleVersionError:
        """The error for one record whose version moved from ``expected`` to ``current``."""
        now = "it has been deleted" if current is None else f"it is now at version {current}"
        return cls(
            f"{entity} {record_id} was changed by someone else: the update expected version "
            f"{expected} but {now}; nothing was written."
        )
