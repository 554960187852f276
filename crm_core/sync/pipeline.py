"""Pipelines: ``pipelines/<name>.yaml``, one sync job each.

A pipeline names a connector instance (its type and settings; a secret is never written in the
file: a ``<setting>_env`` key names the environment variable that holds it), the mapping file, the
direction, the batch size and the schedule::

    name: kingdee-customers
    connector:
      type: kingdee
      base_url: ${TONGBU_KINGDEE_URL:-http://127.0.0.1:8765/k3cloud/}
      acct_id: 6512a3f0
      username: administrator
      password_env: TONGBU_KINGDEE_PASSWORD
    mapping: ../mappings/kingdee/customer.yaml
    direction: both
    batch_size: 500
    schedule: "*/15 * * * *"

String settings may use ``${VAR}`` or ``${VAR:-default}``; the mapping path is relative to the
pipeline file.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crm_core.errors import ConfigError, NotFound
from crm_core.sync.ports import ConfigurationError, Connector, connector_types

__all__ = [
    "PIPELINES_DIR_ENV",
    "Direction",
    "Pipeline",
    "load_pipeline",
    "open_connector",
    "pipeline_paths",
]

PIPELINES_DIR_ENV = "TONGBU_PIPELINES_DIR"
"""The environment variable naming the folder of pipeline files (default ``./pipelines``)."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Direction(StrEnum):
    """Which way a pipeline moves records."""

    IN = "in"
    """From the external system into the CRM."""
    OUT = "out"
    """From the CRM to the external system."""
    BOTH = "both"
    """In, then out."""


class ConnectorSettings(BaseModel):
    """The connector instance: its type and its own settings (checked by the connector)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)


class Pipeline(BaseModel):
    """One sync pipeline, as read from its file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    connector: ConnectorSettings
    mapping: Path
    direction: Direction = Direction.BOTH
    batch_size: int = Field(default=500, ge=1, le=10_000)
    schedule: str | None = None
    description: str | None = None
    max_delete_fraction: float = Field(default=0.5, ge=0, le=1)
    """A full read that finds more than this share of the linked records gone (and more than
    ten) applies no deletes and fails: a wrong filter or account looks exactly like that."""
    match_at_door: bool = True
    """Records arriving unlinked (accounts, contacts) are matched against the core with the
    dedup model: linked to an existing customer when the match is sure, created and flagged
    for review (``match_review``) in the grey zone."""
    match_threshold: float = Field(default=0.9, gt=0, lt=1)
    """The match probability from which an arriving record is linked to an existing one."""
    retries: int = Field(default=3, ge=0, le=20)
    """Airflow: how often a failed task is tried again, waiting ``retry_delay`` seconds, then
    twice as long each time (at most an hour)."""
    retry_delay: int = Field(default=60, ge=1, le=3600)
    pool_slots: int = Field(default=2, ge=1, le=128)
    """Airflow: how many tasks may talk to the system at once (the pool ``tongbu_<type>``);
    each stays under the connector's own ``requests_per_second``, so the system sees at most
    this many times that."""
    airflow_connection: str | None = None
    """Airflow: the connection holding the system's address and credentials (default
    ``tongbu_<type>``); outside Airflow they come from the environment variables."""
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("mapping")
    @classmethod
    def _mapping_is_yaml(cls, value: Path) -> Path:
        if value.suffix not in {".yaml", ".yml"}:
            raise ValueError("the mapping must be a .yaml file")
        return value

    @property
    def system(self) -> str:
        """The connector type, which is also the origin of the writes made for it."""
        return self.connector.type

    def mapping_path(self) -> Path:
        """The mapping file, resolved against the pipeline file's folder."""
        if self.mapping.is_absolute() or self.path is None:
            return self.mapping
        return (self.path.parent / self.mapping).resolve()

    def connector_settings(self) -> dict[str, Any]:
        """The connector's settings with ``${VAR}`` expanded and ``<key>_env`` secrets read
        from the environment (a missing variable is a :class:`ConfigError`)."""
        settings: dict[str, Any] = {}
        for key, value in (self.connector.model_extra or {}).items():
            if key.endswith("_env"):
                variable = str(value)
                secret = os.environ.get(variable)
                if secret is None:
                    raise ConfigError(
                        f"pipeline {self.name}: the environment variable {variable} "
                        f"(for the connector's {key.removesuffix('_env')}) is not set"
                    )
                settings[key.removesuffix("_env")] = secret
            else:
                settings[key] = _expand(value, self.name)
        return settings


def _expand(value: Any, pipeline: str) -> Any:
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name, default)
        if found is None:
            raise ConfigError(f"pipeline {pipeline}: the environment variable {name} is not set")
        return found

    return _VARIABLE.sub(replace, value)


def pipelines_dir() -> Path:
    """The folder holding pipeline files."""
    return Path(os.environ.get(PIPELINES_DIR_ENV, "pipelines"))


def pipeline_paths() -> list[Path]:
    """Every pipeline file of the pipelines folder, sorted by name."""
    folder = pipelines_dir()
    if not folder.is_dir():
        return []
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_pipeline(name_or_path: str | Path) -> Pipeline:
    """The pipeline of a file, given as a path or as a name in the pipelines folder."""
    candidate = Path(name_or_path)
    if not candidate.suffix:
        candidate = pipelines_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        known = ", ".join(path.stem for path in pipeline_paths()) or "none"
        raise NotFound(f"no pipeline {name_or_path!s} (looked for {candidate}; known: {known})")
    try:
        document = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{candidate}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{candidate}: a pipeline file holds a mapping of settings")
    document.setdefault("name", candidate.stem)
    try:
        pipeline = Pipeline.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise ConfigError(f"{candidate}: {problems}") from error
    return pipeline.model_copy(update={"path": candidate.resolve()})


def open_connector(pipeline: Pipeline) -> Connector:
    """A connector instance for ``pipeline`` from the installed connector types."""
    types = connector_types()
    factory = types.get(pipeline.system)
    if factory is None:
        installed = ", ".join(sorted(types)) or "none"
        raise ConfigError(
            f"pipeline {pipeline.name}: no connector of type {pipeline.system!r} is installed "
            f"(installed: {installed})"
        )
    try:
        connector: Connector = factory(pipeline.connector_settings())
    except ConfigurationError as error:
        raise ConfigError(f"pipeline {pipeline.name}: {error}") from error
    return connector
