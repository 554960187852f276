"""``tongbu airflow``: Airflow's side of the house, without importing Airflow here: the DAG file
of each pipeline, the pools of the systems, and a local Airflow on this checkout."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from crm_core.cli._app import err, out
from crm_core.errors import ConfigError, InvalidInput

airflow_app = typer.Typer(
    help="Run Tongbu's jobs on Apache Airflow (DAG files, pools, a local Airflow).",
    no_args_is_help=True,
)

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
PIPELINES = ROOT / "pipelines"
_STUB_PREFIX = "sync_"
_STUB = '''"""The Airflow DAG of pipelines/{name}.yaml (written by `tongbu airflow dags`)."""

from tongbu_airflow.factory import pipeline_dag

dag = pipeline_dag("{name}")
'''
_DEFAULT_POOL_SLOTS = 2


def stub_name(pipeline: str) -> str:
    """The DAG file of a pipeline: ``dags/sync_<name>.py`` (dashes as underscores)."""
    return f"{_STUB_PREFIX}{pipeline.replace('-', '_').replace('.', '_')}.py"


def wanted_stubs(pipelines: Path = PIPELINES) -> dict[str, str]:
    """The DAG files the pipeline files call for, and their contents."""
    return {
        stub_name(path.stem): _STUB.format(name=path.stem)
        for path in sorted(pipelines.glob("*.yaml"))
    }


@airflow_app.command("dags")
def write_dags(
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether dags/ is up to date (exit 1 if not).")
    ] = False,
) -> None:
    """Write one small DAG file per pipeline file (dags/sync_<name>.py) and remove those of
    pipelines that are gone. One file per pipeline keeps a broken pipeline file to its own
    import error: the other DAGs still load."""
    wanted = wanted_stubs()
    present = {
        path.name: path.read_text(encoding="utf-8") for path in DAGS.glob(f"{_STUB_PREFIX}*.py")
    }
    stale = sorted(set(present) - set(wanted))
    changed = sorted(name for name, text in wanted.items() if present.get(name) != text)
    if check:
        if stale or changed:
            err.print(
                f"dags/ is out of date: {', '.join(changed + stale)}; run `tongbu airflow dags`",
                highlight=False,
            )
            raise typer.Exit(1)
        out.print(f"dags/ is up to date: {len(wanted)} pipeline DAG file(s).")
        return
    for name in changed:
        (DAGS / name).write_text(wanted[name], encoding="utf-8")
    for name in stale:
        (DAGS / name).unlink()
    out.print(
        f"{len(wanted)} pipeline DAG file(s) in dags/: {len(changed)} written, "
        f"{len(stale)} removed.",
        highlight=False,
    )


def pool_sizes(pipelines: Path = PIPELINES) -> dict[str, int]:
    """The pool of each system (``tongbu_<type>``) and its size: the largest ``pool_slots``
    of its pipelines."""
    sizes: dict[str, int] = {}
    for path in sorted(pipelines.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            system = str(data["connector"]["type"])
            slots = int(data.get("pool_slots", _DEFAULT_POOL_SLOTS))
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"{path}: cannot read its connector type: {error}") from None
        pool = f"tongbu_{system}"
        sizes[pool] = max(sizes.get(pool, 0), slots)
    return sizes


def airflow_environment() -> dict[str, str]:
    """The environment of Airflow commands on this checkout: ``AIRFLOW_HOME`` at the root
    (its airflow.cfg), the virtual environment's ``bin`` first on ``PATH`` (``airflow
    standalone`` starts its parts by name), and a JWT secret kept beside the config."""
    environment = dict(os.environ)
    environment.setdefault("AIRFLOW_HOME", str(ROOT))
    home = Path(environment["AIRFLOW_HOME"])
    bin_dir = str(Path(sys.executable).parent)
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}"
    if "AIRFLOW__API_AUTH__JWT_SECRET" not in environment:
        secret_file = home / ".airflow-jwt-secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(64), encoding="utf-8")
            secret_file.chmod(0o600)
        environment["AIRFLOW__API_AUTH__JWT_SECRET"] = secret_file.read_text().strip()
    return environment


def _airflow(*args: str) -> None:
    executable = shutil.which("airflow", path=airflow_environment()["PATH"])
    if executable is None:
        raise InvalidInput(
            "Airflow is not installed here: `make install` installs it (requirements-airflow.txt)"
        )
    command = [executable, *args]  # the user's own airflow arguments, run as the user
    result = subprocess.run(command, env=airflow_environment(), check=False)  # noqa: S603
    if result.returncode != 0:
        raise typer.Exit(result.returncode)


@airflow_app.command("pools")
def write_pools() -> None:
    """Create or resize the pool of each system (``tongbu_<type>``, ``pool_slots`` tasks)."""
    for pool, slots in pool_sizes().items():
        _airflow("pools", "set", pool, str(slots), f"Tongbu tasks talking to {pool[7:]} at once")


@airflow_app.command("standalone")
def standalone() -> None:
    """Airflow on this machine: the DAG files, the metadata database, the pools, then
    `airflow standalone` (UI and API on http://localhost:8080; the admin password is in
    simple_auth_manager_passwords.json.generated). Stop it with Ctrl-C."""
    write_dags(check=False)
    _airflow("db", "migrate")
    write_pools()
    _airflow("standalone")


@airflow_app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run_airflow(context: typer.Context) -> None:
    """Any `airflow` command with this checkout's settings, e.g. `tongbu airflow run dags
    list`, `tongbu airflow run dags test sync-kingdee-customers`."""
    _airflow(*context.args)
