"""Airflow for the tests: a temporary AIRFLOW_HOME with its SQLite metadata database, set before
Airflow is first imported (Airflow reads its configuration once, at import)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_HOME = Path(tempfile.mkdtemp(prefix="tongbu-airflow-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.update(
    AIRFLOW_HOME=str(_HOME),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{_HOME / 'airflow.db'}",
)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database, created once per test session."""
    from airflow.utils import db  # imported after the environment above is set

    db.initdb()
    return _HOME
