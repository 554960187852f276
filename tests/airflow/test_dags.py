"""The Airflow DAGs: every pipeline a DAG with its schedule, retries, pool and tasks; a pipeline
DAG run under ``dag.test()`` against the Kingdee emulator, its credentials in an Airflow
connection; a broken pipeline file as its own import error; a failed task alerting a robot."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from sqlalchemy import func, select

from crm_core import schema
from crm_core.cli._airflow import stub_name, wanted_stubs
from crm_core.db import create_engine, open_session
from crm_core.messaging import dingtalk_signature
from crm_core.models import Account, SyncRun

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))


def dag_bag(folder: Path) -> Any:
    from airflow.models import DagBag

    return DagBag(dag_folder=str(folder))


def test_every_pipeline_is_a_dag_with_its_schedule_retries_pool_and_tasks(airflow_db: Path) -> None:
    bag = dag_bag(ROOT / "dags")

    assert bag.import_errors == {}
    for path in PIPELINES:
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
        dag = bag.get_dag(f"sync-{path.stem}")
        direction = settings.get("direction", "both")
        expected = {"in": ["pull"], "out": ["push"], "both": ["pull", "push"]}[direction]
        assert [t.task_id for t in dag.topological_sort()] == [*expected, "reconcile"]
        assert dag.schedule == settings["schedule"]
        assert dag.max_active_runs == 1
        assert dag.catchup is False
        for task in dag.tasks:
            assert task.retries == settings.get("retries", 3)
            assert task.retry_exponential_backoff
            assert task.pool == f"tongbu_{settings['connector']['type']}"
    assert {"dedup-accounts", "dedup-contacts", "migrate", "housekeeping"} <= set(bag.dag_ids)
    pulls = [bag.get_dag(f"sync-{path.stem}").get_task("pull") for path in PIPELINES]
    assert any("tongbu://crm/account" in str(task.outlets) for task in pulls)
    assert "tongbu://crm/account" in str(bag.get_dag("dedup-accounts").schedule)


def test_the_dag_files_are_those_of_the_pipeline_files() -> None:
    present = {path.name for path in (ROOT / "dags").glob("sync_*.py")}
    assert present == set(wanted_stubs(ROOT / "pipelines"))
    for name, text in wanted_stubs(ROOT / "pipelines").items():
        assert (ROOT / "dags" / name).read_text(encoding="utf-8") == text


def test_parsing_every_dag_file_is_fast(airflow_db: Path) -> None:
    import time

    started = time.perf_counter()
    dag_bag(ROOT / "dags")
    assert time.perf_counter() - started < 2.0


# --------------------------------------------------------------------------- running a DAG


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A pipelines folder (the shipped files, retries off so a failure ends at once) and a
    dags folder with their DAG files and the maintenance DAGs."""
    pipelines, dags = tmp_path / "pipelines", tmp_path / "dags"
    pipelines.mkdir()
    dags.mkdir()
    for path in PIPELINES:
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
        settings["mapping"] = str((path.parent / settings["mapping"]).resolve())
        settings["retries"] = 0
        (pipelines / path.name).write_text(yaml.safe_dump(settings), encoding="utf-8")
    for name, text in wanted_stubs(pipelines).items():
        (dags / name).write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "dags" / "tongbu_maintenance.py", dags)
    monkeypatch.setenv("TONGBU_PIPELINES_DIR", str(pipelines))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))  # the bundle dag.test() syncs
    return pipelines, dags


@pytest.fixture
def core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'core.db'}"
    engine = create_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("TONGBU_DATABASE_URL", url)
    return url


@pytest.fixture
def erp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The emulator, its credentials only in the Airflow connection tongbu_kingdee."""
    from connectors.kingdee.emulator import KingdeeEmulator

    emulator = KingdeeEmulator(seed={"customers": 120, "orders": 0}).start()
    credentials = emulator.credentials
    for name in ("URL", "ACCT_ID", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(f"TONGBU_KINGDEE_{name}", raising=False)
    connection = {
        "conn_type": "tongbu_kingdee",
        "host": emulator.url,
        "login": credentials["username"],
        "password": credentials["password"],
        "extra": {"acct_id": credentials["acct_id"]},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TONGBU_KINGDEE", json.dumps(connection))
    try:
        yield emulator
    finally:
        emulator.stop()


def results(run: Any) -> dict[str, Any]:
    """Each task's state and its result (the XCom it returned)."""
    found = {}
    for ti in run.get_task_instances():
        found[ti.task_id] = (str(ti.state), ti.xcom_pull(task_ids=ti.task_id))
    return found


def test_a_pipeline_dag_syncs_the_customers_with_credentials_from_its_connection(
    airflow_db: Path, folders: tuple[Path, Path], core: str, erp: Any
) -> None:
    _pipelines, dags = folders
    dag = dag_bag(dags).get_dag("sync-kingdee-customers")

    run = dag.test()

    assert str(run.state) == "success"
    outcome = results(run)
    assert outcome["pull"][0] == "success"
    pulled = outcome["pull"][1]
    assert pulled["status"] == "succeeded"
    [pull_run] = pulled["runs"]
    assert pull_run["read"] == 120
    assert pull_run["created"] == 120
    assert "password" not in json.dumps(outcome).lower()
    reconciled = outcome["reconcile"][1]
    assert reconciled["external"] == reconciled["linked"] == 120
    assert reconciled["drift"] == 0
    engine = create_engine(core)
    with open_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 120
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 2
    engine.dispose()


# --------------------------------------------------------------------------- failures


def test_a_broken_pipeline_file_is_its_own_import_error(
    airflow_db: Path, folders: tuple[Path, Path]
) -> None:
    pipelines, dags = folders
    broken = pipelines / "broken-one.yaml"
    broken.write_text("connector: {type: kingdee}\nmapping: x.yaml\nbatch_size: lots\n")
    (dags / stub_name("broken-one")).write_text(
        wanted_stubs(pipelines)[stub_name("broken-one")], encoding="utf-8"
    )

    bag = dag_bag(dags)

    [(where, message)] = bag.import_errors.items()
    assert where.endswith(stub_name("broken-one"))
    assert "broken-one.yaml" in message
    assert "batch_size" in message
    assert "sync-kingdee-customers" in bag.dag_ids
    assert "dedup-accounts" in bag.dag_ids


class _Robot(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body))
        answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def robot() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A group robot's webhook on 127.0.0.1 that records what it is sent."""
    _Robot.received = []
    server = HTTPServer(("127.0.0.1", 0), _Robot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Robot.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.usefixtures("airflow_db", "core")
@pytest.mark.parametrize("kind", ["wecom", "dingtalk"])
def test_a_failed_task_alerts_the_group_robot(
    folders: tuple[Path, Path],
    robot: tuple[str, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    _pipelines, dags = folders
    base, received = robot
    monkeypatch.delenv("AIRFLOW_CONN_TONGBU_KINGDEE", raising=False)
    monkeypatch.setenv("TONGBU_KINGDEE_URL", "http://127.0.0.1:9/k3cloud/")  # nothing listens
    monkeypatch.setenv("TONGBU_KINGDEE_PASSWORD", "not-a-real-one")
    monkeypatch.setenv("TONGBU_ALERT_KIND", kind)
    if kind == "wecom":
        monkeypatch.setenv("TONGBU_ALERT_WEBHOOK", f"{base}/cgi-bin/webhook/send?key=abc")
    else:
        monkeypatch.setenv("TONGBU_ALERT_WEBHOOK", f"{base}/robot/send?access_token=tok")
        monkeypatch.setenv("TONGBU_ALERT_SECRET", "SECsigning-secret")
    dag = dag_bag(dags).get_dag("sync-kingdee-materials")

    run = dag.test()

    assert str(run.state) == "failed"
    [(path, body)] = received
    text = body["text"]["content"]
    assert body["msgtype"] == "text"
    assert "sync-kingdee-materials / pull failed" in text
    assert "/dags/sync-kingdee-materials/runs/" in text
    assert "not-a-real-one" not in text
    query = parse_qs(urlsplit(path).query)
    if kind == "dingtalk":
        stamp = int(query["timestamp"][0])
        assert query["access_token"] == ["tok"]
        assert (
            query["sign"][0]
            == parse_qs(f"sign={dingtalk_signature('SECsigning-secret', stamp)}")["sign"][0]
        )
    else:
        assert query["key"] == ["abc"]


def test_the_provider_shows_the_connection_types() -> None:
    from importlib.metadata import entry_points

    [entry] = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("tongbu")
    ]
    info = entry.load()()
    types = {item["connection-type"]: item for item in info["connection-types"]}
    assert types["tongbu_kingdee"]["hook-class-name"] == "tongbu_airflow.hooks.KingdeeHook"
    assert "acct_id" in types["tongbu_kingdee"]["conn-fields"]
    assert "tongbu_alerts" in types


def test_the_maintenance_dags_migrate_dedup_and_keep_house(
    airflow_db: Path, folders: tuple[Path, Path], core: str
) -> None:
    _pipelines, dags = folders
    bag = dag_bag(dags)
    workbook = ROOT / "crm_core" / "sample" / "legacy_customers.xlsx"
    mapping = ROOT / "mappings" / "legacy" / "accounts_csv.yaml"

    migrated = bag.get_dag("migrate").test(
        run_conf={"source": str(workbook), "mapping": str(mapping)}
    )
    deduped = bag.get_dag("dedup-accounts").test()
    kept = bag.get_dag("housekeeping").test()

    assert str(migrated.state) == "success"
    counts = results(migrated)["migrate"][1]
    assert counts["read"] == 18
    assert counts["read"] == (
        counts["created"] + counts["updated"] + counts["merged"] + counts["quarantined"]
    )
    assert str(deduped.state) == "success"
    assert results(deduped)["dedup"][1]["records"] == counts["created"]
    assert str(kept.state) == "success"
    housekeeping = results(kept)["housekeeping"][1]
    assert housekeeping["still_quarantined"] == counts["quarantined"]
    assert housekeeping["runs_deleted"] == 0


# --------------------------------------------------------------------------- CRM rules


def test_the_rules_dags_run_on_china_time(airflow_db: Path) -> None:
    bag = dag_bag(ROOT / "dags")

    assert bag.import_errors == {}
    expected = {
        "pool-recycle": ("0 2 * * *", "recycle"),
        "lead-assignment": ("*/5 * * * *", "assignment"),
        "morning-reminders": ("30 8 * * 1-6", "reminders"),
    }
    for dag_id, (schedule, task_id) in expected.items():
        dag = bag.get_dag(dag_id)
        if dag_id == "lead-assignment":  # also as soon as a sync has pulled leads
            assert dag.timetable.timetable.expression == schedule
            assert "tongbu://crm/lead" in str(dag.timetable.asset_condition)
        else:
            assert dag.schedule == schedule
        assert str(dag.timezone.name) == "Asia/Shanghai"
        assert [t.task_id for t in dag.tasks] == [task_id]
        assert dag.max_active_runs == 1


def test_the_assignment_dag_assigns_new_leads_and_tells_the_owner(
    airflow_db: Path, tmp_path: Path, core: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.wecom.emulator import WeComRobotEmulator
    from crm_core.models import Lead, Team, TeamMember, User

    rules = tmp_path / "crm.yaml"
    rules.write_text(
        "assignment:\n  rules:\n    - {name: east, team: 华东销售部}\n"
        "notifications:\n  channels:\n    sales: {kind: wecom, webhook_env: SALES_WEBHOOK}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TONGBU_RULES", str(rules))
    engine = create_engine(core)
    with open_session(engine, origin="crm") as session:
        team = Team(name="华东销售部")
        user = User(name="王磊", email="wang@example.com", phone="13912345678")
        session.add_all([team, user])
        session.flush()
        session.add(TeamMember(team_id=team.id, user_id=user.id))
        session.add_all([Lead(name=f"线索{i}", company="华信") for i in range(3)])
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "tongbu_rules.py", dags)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    with WeComRobotEmulator(keys=("k1",)) as robot:
        monkeypatch.setenv("SALES_WEBHOOK", robot.webhook_url("k1"))
        run = dag_bag(dags).get_dag("lead-assignment").test()
        received = list(robot.messages)

    assert str(run.state) == "success"
    state, summary = results(run)["assignment"]
    assert state == "success"
    assert summary["assigned"] == {"east": 3}
    assert summary["delivery"]["sent"] == 1
    [message] = received
    assert "3 new lead(s)" in message.content
    assert message.mentioned_mobiles == ["13912345678"]
    with open_session(engine) as session:
        assert set(session.scalars(select(Lead.owner_id))) == {user.id}
    engine.dispose()
