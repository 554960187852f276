"""The DAG factory: one Airflow DAG per ``pipelines/*.yaml`` (:func:`pipeline_dag`), and the
maintenance DAGs (:func:`dedup_dag`, :func:`migrate_dag`, :func:`housekeeping_dag`), and the
CRM rules' DAGs (:func:`pool_recycle_dag`, :func:`lead_assignment_dag`,
:func:`morning_reminders_dag`).

Every task body is one call into :mod:`crm_core.jobs`, imported when the task runs, so parsing a
DAG file costs a YAML read and a pydantic check, not the sync engine. A task returns its job's
summary (counts) as its result, never records. Credentials come from the Airflow connection of
the pipeline's system (``tongbu_<type>``), handed to the job as the environment variables the
pipeline file reads; outside Airflow the same variables come from the environment.

A pipeline DAG:

* runs on the pipeline's ``schedule``, ``catchup`` off, ``max_active_runs=1`` (a pipeline never
  runs twice at once), its tasks retried ``retries`` times with exponential backoff;
* has the tasks ``pull`` (system -> CRM; it publishes the asset ``tongbu://crm/<entity>`` that the
  dedup DAGs are scheduled on), ``push`` (CRM -> system), as its direction says, then
  ``reconcile`` (counts on both sides, and the drift);
* puts its tasks in the pool ``tongbu_<type>`` (``pool_slots`` tasks at once per system: create
  the pools with ``tongbu airflow pools``);
* posts a short alert to a WeCom or DingTalk group robot when a task fails
  (:mod:`crm_core.alerts`, configured by the ``tongbu_alerts`` connection or the environment).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
import yaml
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, task

from tongbu_airflow.hooks import AlertHook, connection_environment

__all__ = [
    "PipelineDagError",
    "alert_on_failure",
    "dedup_dag",
    "entity_asset",
    "housekeeping_dag",
    "lead_assignment_dag",
    "migrate_dag",
    "morning_reminders_dag",
    "pipeline_dag",
    "pipelines_dir",
    "pool_recycle_dag",
]

log = logging.getLogger(__name__)

PIPELINES_DIR_ENV = "TONGBU_PIPELINES_DIR"
RULES_ENV = "TONGBU_RULES"
ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1, tzinfo=UTC)
"""A fixed start date: the factory's output must not change between parses."""
SALES_START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
"""The start of the sales teams' DAGs: their cron schedules are read in China's time."""
_MAX_RETRY_DELAY = timedelta(hours=1)


class PipelineDagError(Exception):
    """A pipeline file cannot become a DAG; the message names the file and the problem."""


def pipelines_dir() -> Path:
    """The folder of the pipeline files (``TONGBU_PIPELINES_DIR``, default ``pipelines/``)."""
    return Path(os.environ.get(PIPELINES_DIR_ENV) or ROOT / "pipelines")


def entity_asset(crm_entity: str) -> Asset:
    """The asset a sync publishes when it changed records of a CRM entity
    (``tongbu://crm/account`` for ``accounts``)."""
    singular = crm_entity[:-1] if crm_entity.endswith("s") else crm_entity
    return Asset(f"tongbu://crm/{singular}")


# --------------------------------------------------------------------------- running a job


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the length of a job (the worker process is the task's)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_job(
    job: str, *, system: str | None = None, connection: str | None = None, **arguments: Any
) -> dict[str, Any]:
    """Run ``crm_core.jobs.<job>(**arguments)`` with the system's credentials from its Airflow
    connection; return the job's summary."""
    import crm_core.jobs  # noqa: PLC0415 - the engine loads when a task runs, not when parsing

    environment = connection_environment(connection, system) if connection and system else {}
    function: Callable[..., dict[str, Any]] = getattr(crm_core.jobs, job)
    with _environment(environment):
        return function(**arguments)


def _systems_environment() -> dict[str, str]:
    """The credentials of every system a pipeline file names, from their connections."""
    found: dict[str, str] = {}
    for path in sorted(pipelines_dir().glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            system = str(data["connector"]["type"])
            connection = data.get("airflow_connection") or f"tongbu_{system}"
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue  # a broken pipeline file shows as its own DAG's import error
        found.update(connection_environment(connection, system))
    return found


def alert_on_failure(context: Mapping[str, Any]) -> None:
    """Tell the team's group chat that a task failed: DAG, task, error, and a link to the run."""
    from crm_core.alerts import post_alert  # noqa: PLC0415 - see run_job

    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", "?")
    error = context.get("exception")
    base = os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080").rstrip("/")
    text = (
        f"[Tongbu] {dag_id} / {task_id} failed (try {getattr(ti, 'try_number', '?')}): "
        f"{type(error).__name__ if error else 'error'}: {error}\n"
        f"{base}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"
    )
    with _environment(AlertHook().environment()):
        post_alert(text)


def _default_args(retries: int, retry_delay: int, pool: str | None = None) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "retries": retries,
        "retry_delay": timedelta(seconds=retry_delay),
        "retry_exponential_backoff": True,
        "max_retry_delay": _MAX_RETRY_DELAY,
        "on_failure_callback": alert_on_failure,
    }
    if pool is not None:
        arguments["pool"] = pool
    return arguments


# --------------------------------------------------------------------------- pipelines


def _load(name: str, folder: Path | None) -> tuple[Any, str]:
    """The pipeline and the CRM entity its mapping writes; PipelineDagError naming the file."""
    from crm_core.errors import TongbuError  # noqa: PLC0415 - light, but only what is needed
    from crm_core.sync.pipeline import load_pipeline  # noqa: PLC0415

    path = (folder or pipelines_dir()) / f"{name}.yaml"
    try:
        pipeline = load_pipeline(path)
    except TongbuError as error:
        raise PipelineDagError(str(error)) from None
    mapping_path = pipeline.mapping_path()
    try:
        mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PipelineDagError(
            f"{path}: its mapping {mapping_path} cannot be read: {error}"
        ) from None
    entity = mapping.get("crm_entity") if isinstance(mapping, dict) else None
    if not isinstance(entity, str):
        raise PipelineDagError(f"{path}: its mapping {mapping_path} names no crm_entity")
    return pipeline, entity


_SYNC_STEPS: tuple[tuple[str, str, Callable[[str], list[Asset]], str], ...] = (
    (
        "in",
        "pull",
        lambda entity: [entity_asset(entity)],
        "System -> CRM: what changed since the last pull.",
    ),
    ("out", "push", lambda entity: [], "CRM -> system: the change log since the last push."),
)
"""The sync tasks: direction, task id, the assets it publishes, what it does."""


def _job_task(
    task_id: str,
    doc: str,
    job: str,
    arguments: Mapping[str, Any],
    outlets: list[Asset] | None = None,
) -> Any:
    """A task whose body is one job of :mod:`crm_core.jobs` (in the current DAG)."""

    def body() -> dict[str, Any]:
        return run_job(job, **arguments)

    body.__doc__ = doc
    return task(task_id=task_id, outlets=outlets or [])(body)()


def pipeline_dag(name: str, folder: Path | None = None) -> DAG:
    """The DAG of ``pipelines/<name>.yaml`` (see the module's doc)."""
    pipeline, entity = _load(name, folder)
    system = pipeline.system
    connection = pipeline.airflow_connection or f"tongbu_{system}"
    path = str(pipeline.path)  # the job finds the file wherever the worker's directory is
    direction = str(pipeline.direction)
    try:
        dag = DAG(
            dag_id=f"sync-{pipeline.name}",
            description=pipeline.description or f"Sync {name} ({system}, {direction})",
            schedule=pipeline.schedule,
            start_date=START,
            catchup=False,
            max_active_runs=1,
            default_args=_default_args(
                pipeline.retries, pipeline.retry_delay, pool=f"tongbu_{system}"
            ),
            tags=["tongbu", "sync", system],
        )
    except Exception as error:  # noqa: BLE001 - Airflow's own errors (a bad schedule...)
        raise PipelineDagError(f"{pipeline.path}: {type(error).__name__}: {error}") from None
    credentials = {"system": system, "connection": connection, "pipeline": path}
    with dag:
        steps = []
        for wanted, task_id, outlets, doc in _SYNC_STEPS:
            if direction in {wanted, "both"}:
                arguments = {**credentials, "direction": wanted}
                steps.append(_job_task(task_id, doc, "sync_job", arguments, outlets(entity)))
        doc = "Count the records on both sides and report the drift."
        steps.append(_job_task("reconcile", doc, "reconcile_job", credentials))
        for before, after in itertools.pairwise(steps):
            before >> after
    return dag


# --------------------------------------------------------------------------- maintenance


def _scheduled_dag(
    dag_id: str,
    description: str,
    schedule: Any,
    *,
    retries: int,
    retry_delay: int,
    tag: str,
    start_date: datetime = START,
    **extra: Any,
) -> DAG:
    """A DAG of Tongbu's: no catch-up, one run at a time, retries with backoff and alerts."""
    return DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(retries=retries, retry_delay=retry_delay),
        tags=["tongbu", tag],
        **extra,
    )


def dedup_dag(entity: str) -> DAG:
    """Dedup of ``account`` or ``contact`` records, run after the syncs that feed them (it is
    scheduled on their asset), merging what is sure and holding back the rest."""
    with _scheduled_dag(
        f"dedup-{entity}s",
        f"Merge duplicate {entity}s of the CRM core after the syncs that feed them",
        [entity_asset(f"{entity}s")],
        retries=2,
        retry_delay=300,
        tag="dedup",
    ) as dag:
        arguments = {"entity": entity, "apply": True}
        _job_task("dedup", "Find and merge the duplicates.", "dedup_job", arguments)
    return dag


def migrate_dag() -> DAG:
    """A migration of legacy data, triggered by hand with the source and the mapping as
    parameters (the same as ``tongbu migrate run``)."""
    with _scheduled_dag(
        "migrate",
        "Migrate a legacy source (CSV, Excel, SQL) into the CRM core",
        None,
        retries=0,
        retry_delay=60,
        tag="migrate",
        params={
            "source": Param("", type="string", description="A file, or a database URL"),
            "mapping": Param(
                "mappings/legacy/accounts_csv.yaml", type="string", description="The mapping"
            ),
            "table": Param(None, type=["null", "string"], description="For a database URL"),
            "sheet": Param(None, type=["null", "string"], description="For a workbook"),
            "dedup": Param(True, type="boolean"),
            "chunk_size": Param(5000, type="integer", minimum=1),
            "resume": Param(None, type=["null", "string"], description="A run id to resume"),
        },
    ) as dag:

        @task(task_id="migrate")
        def migrate(params: dict[str, Any] | None = None) -> dict[str, Any]:
            """Run the migration; the result is its reconciliation counts."""
            given = dict(params or {})
            return run_job(
                "migrate_job",
                source=given["source"],
                mapping=given["mapping"],
                table=given.get("table"),
                sheet=given.get("sheet"),
                dedup=bool(given.get("dedup", True)),
                chunk_size=int(given.get("chunk_size", 5000)),
                resume=given.get("resume"),
            )

        migrate()
    return dag


def housekeeping_dag(schedule: str = "0 2 * * *") -> DAG:
    """Nightly: retry what waits in quarantine, and drop the run history past its retention."""
    with _scheduled_dag(
        "housekeeping",
        "Retry quarantined records; keep 90 days of run history",
        schedule,
        retries=2,
        retry_delay=300,
        tag="maintenance",
    ) as dag:

        @task(task_id="housekeeping")
        def housekeeping() -> dict[str, Any]:
            """Retry the quarantine (with every system's credentials); delete old runs."""
            with _environment(_systems_environment()):
                return run_job("housekeeping_job")

        housekeeping()
    return dag


# --------------------------------------------------------------------------- CRM rules


def _rules_dag(
    dag_id: str,
    description: str,
    schedule: str | AssetOrTimeSchedule,
    job: str,
    doc: str,
    **arguments: Any,
) -> DAG:
    with _scheduled_dag(
        dag_id,
        description,
        schedule,
        retries=2,
        retry_delay=120,
        tag="rules",
        start_date=SALES_START,
    ) as dag:
        # The rules file is found wherever the worker's directory is.
        rules = os.environ.get(RULES_ENV) or str(ROOT / "rules" / "crm.yaml")
        _job_task(dag_id.rsplit("-", 1)[-1], doc, job, {**arguments, "rules": rules})
    return dag


def pool_recycle_dag(schedule: str = "0 2 * * *") -> DAG:
    """Nightly (02:00 China time): the public pools take back what neglectful owners hold and
    warn the owners of what comes next."""
    return _rules_dag(
        "pool-recycle",
        "Recycle neglected accounts and leads into their public pools; warn their owners",
        schedule,
        "recycle_job",
        "Adopt, recycle and warn, then deliver the notifications.",
    )


def lead_assignment_dag(schedule: str = "*/5 * * * *") -> DAG:
    """Every few minutes, and as soon as a sync has pulled leads (the asset
    ``tongbu://crm/lead``): new leads, whatever brought them in, get an owner by the rules."""
    return _rules_dag(
        "lead-assignment",
        "Assign new leads by the assignment rules and tell their owners",
        AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(schedule, timezone="Asia/Shanghai"),
            assets=[entity_asset("leads")],
        ),
        "assign_job",
        "Assign the waiting leads, then deliver the notifications.",
    )


def morning_reminders_dag(schedule: str = "30 8 * * 1-6") -> DAG:
    """Each working morning (08:30 China time, Monday to Saturday): every owner's tasks and
    follow-ups coming due and the recycles coming up, in one message."""
    return _rules_dag(
        "morning-reminders",
        "Send each salesperson their reminders for the day",
        schedule,
        "reminders_job",
        "Collect the reminders per owner, queue and deliver them.",
        horizon="1d",
    )
