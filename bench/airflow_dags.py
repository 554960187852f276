"""Benchmark of Tongbu on Airflow: what parsing the DAGs costs, and what Airflow adds to a sync.

1. **Parse** -- a ``dags/`` folder with ``--pipelines`` pipeline DAG files (copies of the
   Kingdee customer pipeline, default 50) and the maintenance DAGs, loaded by a ``DagBag`` in a
   process where Airflow is already imported (as the dag-processor has it): seconds for the
   whole folder (target: under 2 s), and per file.
2. **Run** -- ``--customers`` customers (default 10,000) in the Kingdee emulator, pulled into a
   fresh SQLite core twice: once by ``crm_core.jobs.sync_job`` (what ``tongbu sync run`` does)
   and once by the pipeline's DAG under ``dag.test()``, its credentials in an Airflow
   connection. The wall times and their ratio show Airflow's overhead (the DAG run also
   reconciles: its tasks' own durations are printed, and the pull task's against the job).

Figures go to the terminal and to ``bench/out/airflow_dags.json``. Run it::

    python bench/airflow_dags.py [--pipelines N] [--customers N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT_FILE = BENCH / "out" / "airflow_dags.json"
PARSE_TARGET_S = 2.0

_PARSE = """
import json, sys, time
from airflow.models import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "dags": len(bag.dag_ids), "errors": len(bag.import_errors)}))
"""

_RUN = """
import json, os, sys, time
from airflow.utils import db
db.initdb()
from airflow.models import DagBag
dag = DagBag(dag_folder=sys.argv[1]).get_dag("sync-bench-customers")
started = time.perf_counter()
run = dag.test()
seconds = time.perf_counter() - started
instances = run.get_task_instances()
pulled = [ti.xcom_pull(task_ids="pull") for ti in instances if ti.task_id == "pull"]
tasks = {ti.task_id: ti.duration for ti in instances}
print(json.dumps({"seconds": seconds, "state": str(run.state), "pull": pulled[0], "tasks": tasks}))
"""


def _folders(base: Path, pipelines: int, *, retries: int = 3) -> tuple[Path, Path]:
    """A pipelines folder with ``pipelines`` copies of the customer pipeline, and a dags
    folder with their DAG files and the maintenance DAGs."""
    from crm_core.cli._airflow import wanted_stubs

    source = ROOT / "pipelines" / "kingdee-customers.yaml"
    settings = yaml.safe_load(source.read_text(encoding="utf-8"))
    settings["mapping"] = str((source.parent / settings["mapping"]).resolve())
    settings["retries"] = retries
    folder, dags = base / "pipelines", base / "dags"
    folder.mkdir(parents=True)
    dags.mkdir()
    names = ["bench-customers"] + [f"bench-customers-{n:03d}" for n in range(1, pipelines)]
    for name in names[:pipelines]:
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    for name, text in wanted_stubs(folder).items():
        (dags / name).write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "dags" / "tongbu_maintenance.py", dags)
    return folder, dags


def _airflow_env(base: Path, pipelines: Path) -> dict[str, str]:
    home = base / "airflow"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(base / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "TONGBU_PIPELINES_DIR": str(pipelines),
    }


def _child(code: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False
    )
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError(f"the child failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def parse_part(pipelines: int) -> dict[str, Any]:
    """Seconds to load a dags/ folder of ``pipelines`` pipeline DAG files (best of three)."""
    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        folder, dags = _folders(base, pipelines)
        env = _airflow_env(base, folder)
        runs = [_child(_PARSE, [str(dags)], env) for _ in range(3)]
    best = min(run["seconds"] for run in runs)
    return {
        "pipeline_files": pipelines,
        "dags": runs[0]["dags"],
        "import_errors": runs[0]["errors"],
        "seconds": round(best, 3),
        "ms_per_file": round(1000 * best / (pipelines + 1), 2),
        "target_s": PARSE_TARGET_S,
        "met": best < PARSE_TARGET_S and runs[0]["errors"] == 0,
    }


def run_part(customers: int) -> dict[str, Any]:
    """One pull of ``customers`` customers: through crm_core.jobs, then as a DAG run."""
    from connectors.kingdee.emulator import KingdeeEmulator
    from crm_core import schema
    from crm_core.db import create_engine
    from crm_core.jobs import sync_job

    emulator = KingdeeEmulator(seed={"customers": customers, "orders": 0}).start()
    credentials = emulator.credentials
    try:
        with tempfile.TemporaryDirectory() as temporary:
            base = Path(temporary)
            folder, dags = _folders(base, 1, retries=0)
            (folder / "bench-customers.yaml").write_text(
                (folder / "bench-customers.yaml")
                .read_text(encoding="utf-8")
                .replace("direction: both", "direction: in"),
                encoding="utf-8",
            )
            figures: dict[str, Any] = {"customers": customers}
            for label in ("tongbu", "airflow"):
                url = f"sqlite:///{base / f'core-{label}.db'}"
                schema.upgrade(create_engine(url))
                env = {
                    **_airflow_env(base, folder),
                    "TONGBU_DATABASE_URL": url,
                    "TONGBU_KINGDEE_URL": emulator.url,
                    "TONGBU_KINGDEE_ACCT_ID": credentials["acct_id"],
                    "TONGBU_KINGDEE_USERNAME": credentials["username"],
                    "TONGBU_KINGDEE_PASSWORD": credentials["password"],
                }
                if label == "tongbu":
                    saved = dict(os.environ)
                    os.environ.update(env)
                    try:
                        started = time.perf_counter()
                        result = sync_job(
                            str(folder / "bench-customers.yaml"), "in", database_url=url
                        )
                        seconds = time.perf_counter() - started
                    finally:
                        os.environ.clear()
                        os.environ.update(saved)
                    created = result["runs"][0]["created"]
                else:
                    for name in ("URL", "ACCT_ID", "USERNAME", "PASSWORD"):
                        env.pop(f"TONGBU_KINGDEE_{name}")
                    env["AIRFLOW_CONN_TONGBU_KINGDEE"] = json.dumps(
                        {
                            "conn_type": "tongbu_kingdee",
                            "host": emulator.url,
                            "login": credentials["username"],
                            "password": credentials["password"],
                            "extra": {"acct_id": credentials["acct_id"]},
                        }
                    )
                    child = _child(_RUN, [str(dags)], env)
                    if child["state"] != "success":
                        raise RuntimeError(f"the DAG run failed: {child}")
                    seconds = child["seconds"]
                    created = child["pull"]["runs"][0]["created"]
                    figures["airflow_tasks"] = {
                        task: round(spent or 0.0, 3) for task, spent in child["tasks"].items()
                    }
                figures[label] = {"seconds": round(seconds, 3), "created": created}
    finally:
        emulator.stop()
    figures["ratio"] = round(figures["airflow"]["seconds"] / figures["tongbu"]["seconds"], 3)
    pull = figures.get("airflow_tasks", {}).get("pull")
    if pull:
        figures["pull_task_ratio"] = round(pull / figures["tongbu"]["seconds"], 3)
    return figures


def main() -> None:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=50)
    parser.add_argument("--customers", type=int, default=10_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    figures = {"parse": parse_part(args.pipelines), "run": run_part(args.customers)}
    parse, run = figures["parse"], figures["run"]
    print(
        f"parse: {parse['pipeline_files']} pipeline DAG files + maintenance ({parse['dags']} DAGs, "
        f"{parse['import_errors']} import errors): {parse['seconds']} s "
        f"({parse['ms_per_file']} ms a file; target < {PARSE_TARGET_S} s: "
        f"{'met' if parse['met'] else 'NOT met'})"
    )
    print(
        f"run: {run['customers']:,} customers pulled: tongbu {run['tongbu']['seconds']} s, "
        f"Airflow dag.test() {run['airflow']['seconds']} s (ratio {run['ratio']}; the run's "
        f"tasks: {run.get('airflow_tasks')}, the pull task alone {run.get('pull_task_ratio')} "
        "times the plain job)"
    )
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
