"""Settings read from the environment."""

from __future__ import annotations

import os

__all__ = ["DATABASE_URL_ENV", "DEFAULT_DATABASE_URL", "database_url_from_env"]

DATABASE_URL_ENV = "TONGBU_DATABASE_URL"
"""The environment variable that chooses the CRM core database."""

DEFAULT_DATABASE_URL = "sqlite:///tongbu.db"
"""The embedded default: a SQLite file in the working directory."""


def database_url_from_env() -> str:
    """The database URL from ``TONGBU_DATABASE_URL``, or the embedded SQLite default."""
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    return value or DEFAULT_DATABASE_URL
