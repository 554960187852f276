"""Scaled out: an Airflow API server, scheduler and DAG processor with two Celery workers, on
the real PostgreSQL (Airflow's metadata database and the CRM core) and Redis (the broker),
started in a temporary AIRFLOW_HOME; one pipeline DAG triggered, run to success by the workers,
and the records checked in the core. Everything is stopped afterwards.

Slow (a minute): ``pytest -m "not scaleout"`` leaves it out locally; CI runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy import func, select

from crm_core import schema
from crm_core.cli._airflow import wanted_stubs
from crm_core.db import create_engine, open_session
from crm_core.models import Account
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.scaleout

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
REDIS_URL = "redis://127.0.0.1:6379/"
DAG_ID = "sync-kingdee-customers"
CUSTOMERS = 150
_DEADLINE_S = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases: Airflow's metadata and the CRM core."""
    names = [f"tongbu_af_{uuid.uuid4().hex[:8]}", f"tongbu_core_{uuid.uuid4().hex[:8]}"]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rpartition("/")[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _environment(home: Path, metadata: str, core: str, erp: object) -> dict[str, str]:
    api_port = _free_port()
    redis_db = 1 + (os.getpid() % 14)
    credentials = erp.credentials  # type: ignore[attr-defined]
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "TONGBU_KINGDEE"))
    }
    environment.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__PARALLELISM="8",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata,
        AIRFLOW__CELERY__BROKER_URL=f"{REDIS_URL}{redis_db}",
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + metadata.replace("+psycopg", "+psycopg2"),
        AIRFLOW__API_AUTH__JWT_SECRET=uuid.uuid4().hex * 2,
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        TONGBU_DATABASE_URL=core,
        TONGBU_PIPELINES_DIR=str(home / "pipelines"),
        AIRFLOW_CONN_TONGBU_KINGDEE=json.dumps(
            {
                "conn_type": "tongbu_kingdee",
                "host": erp.url,  # type: ignore[attr-defined]
                "login": credentials["username"],
                "password": credentials["password"],
                "extra": {"acct_id": credentials["acct_id"]},
            }
        ),
    )
    return environment


def _prepare(home: Path) -> None:
    """The pipeline files (retries off, so a failure ends at once) and their DAG files."""
    (home / "pipelines").mkdir(parents=True)
    (home / "dags").mkdir()
    for path in sorted((ROOT / "pipelines").glob("*.yaml")):
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
        settings["mapping"] = str((path.parent / settings["mapping"]).resolve())
        settings["retries"] = 0
        settings["schedule"] = None
        (home / "pipelines" / path.name).write_text(yaml.safe_dump(settings), encoding="utf-8")
    for name, text in wanted_stubs(home / "pipelines").items():
        (home / "dags" / name).write_text(text, encoding="utf-8")


def _airflow(environment: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [AIRFLOW, *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _run_state(environment: dict[str, str]) -> str | None:
    listed = _airflow(environment, "dags", "list-runs", DAG_ID, "-o", "json")
    documents = [line for line in listed.splitlines() if line.startswith(("[{", "[]"))]
    runs = json.loads(documents[-1]) if documents else []
    return str(runs[0]["state"]) if runs else None


def test_two_celery_workers_run_a_pipeline_dag(tmp_path: Path, databases: tuple[str, str]) -> None:
    from connectors.kingdee.emulator import KingdeeEmulator

    metadata, core = databases
    engine = create_engine(core)
    schema.upgrade(engine)
    home = tmp_path / "airflow"
    _prepare(home)
    erp = KingdeeEmulator(seed={"customers": CUSTOMERS, "orders": 0}).start()
    environment = _environment(home, metadata, core, erp)
    _airflow(environment, "db", "migrate")
    _airflow(environment, "pools", "set", "tongbu_kingdee", "2", "Kingdee")
    logs = tmp_path / "logs"
    logs.mkdir()
    commands = {
        "api-server": ["api-server", "--port", environment["AIRFLOW__API__PORT"]],
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
        "worker-1": ["celery", "worker", "--concurrency", "2", "--celery-hostname", "w1@%h"],
        "worker-2": ["celery", "worker", "--concurrency", "2", "--celery-hostname", "w2@%h"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            own = dict(environment)
            if name.startswith("worker"):
                own["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(_free_port())
            with (logs / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(
                    [AIRFLOW, *command],
                    env=own,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        deadline = time.monotonic() + _DEADLINE_S
        _wait_for_dag(environment, deadline)
        _airflow(environment, "dags", "unpause", DAG_ID)
        _airflow(environment, "dags", "trigger", DAG_ID)
        state = None
        while time.monotonic() < deadline and state not in {"success", "failed"}:
            time.sleep(3)
            dead = [name for name, process in processes.items() if process.poll() is not None]
            assert not dead, f"{dead} stopped: " + _tails(logs)
            state = _run_state(environment)
        assert state == "success", f"the run ended {state}: " + _tails(logs)
        with open_session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Account)) == CUSTOMERS
        ran_on = [
            name
            for name in ("worker-1", "worker-2")
            if "execute_workload" in (logs / f"{name}.log").read_text(errors="replace")
        ]
        assert ran_on, "no worker ran a task: " + _tails(logs)
    finally:
        _stop(processes)
        erp.stop()
        engine.dispose()
        shutil.rmtree(home, ignore_errors=True)


def _wait_for_dag(environment: dict[str, str], deadline: float) -> None:
    """Until the DAG processor has written the DAG to the metadata database."""
    while time.monotonic() < deadline:
        listed = subprocess.run(
            [AIRFLOW, "dags", "list", "-o", "json"],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if DAG_ID in listed.stdout:
            return
        time.sleep(2)


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each process group, SIGKILL to what is still there after 20 s."""
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _tails(logs: Path) -> str:
    return "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}"
        for path in sorted(logs.iterdir())
    )
