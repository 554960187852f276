"""Customer search: accounts, contacts and leads by name, phone or e-mail, on SQLite (FTS5) and
PostgreSQL (GIN), kept up to date from the change feed."""

from crm_core.search._index import rebuild_index, refresh_index
from crm_core.search._query import ENTITY_NAMES, SearchHit, search
from crm_core.search._tokens import normalize, phone_digits

__all__ = [
    "ENTITY_NAMES",
    "SearchHit",
    "normalize",
    "phone_digits",
    "rebuild_index",
    "refresh_index",
    "search",
]
