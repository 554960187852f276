"""One run of a pipeline at a time: a lease row in ``sync_state`` (direction ``lock``).

A second run of the same pipeline while one is going (from Airflow and from the command line,
say) stops at once with a clear error instead of racing the first. A lease left by a process
that died (killed, crashed) is taken over: on the same host when that process is gone, from
another host when the lease is older than :data:`STALE_AFTER`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy import exc as sa_exc

from crm_core.db import open_session
from crm_core.errors import ConfigError
from crm_core.models import SyncState, table_of
from crm_core.models._types import utcnow
from crm_core.sync._books import save_cursor

__all__ = ["STALE_AFTER", "PipelineBusy", "lease"]

STALE_AFTER = timedelta(hours=6)
"""How old another host's lease must be before it is taken for abandoned."""

_LOCK = "lock"


class PipelineBusy(ConfigError):
    """The pipeline is being run by another process."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def lease(engine: Engine, pipeline: str) -> Iterator[None]:
    """Hold the pipeline's lease for the duration of the block."""
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": utcnow().isoformat()}
    try:
        _take(engine, pipeline, me)
    except sa_exc.IntegrityError as error:  # another process took it between our read and write
        raise PipelineBusy(
            f"pipeline {pipeline} is already running; wait for it to finish"
        ) from error
    try:
        yield
    finally:
        with open_session(engine, origin="crm") as session:
            table = table_of(SyncState)
            session.execute(
                delete(table).where(table.c.pipeline == pipeline, table.c.direction == _LOCK)
            )


def _take(engine: Engine, pipeline: str, me: dict[str, object]) -> None:
    with open_session(engine, origin="crm") as session:
        holder = session.scalar(
            select(SyncState.cursor)
            .where(SyncState.pipeline == pipeline, SyncState.direction == _LOCK)
            .with_for_update()
        )
        if holder and _held(holder):
            raise PipelineBusy(
                f"pipeline {pipeline} is already running (process {holder.get('pid')} on "
                f"{holder.get('host')} since {holder.get('since')}); wait for it to finish"
            )
        save_cursor(session, pipeline, _LOCK, me)


def _held(holder: dict[str, object]) -> bool:
    """Whether the process named in a lease is still running it."""
    if holder.get("host") == socket.gethostname():
        pid = holder.get("pid")
        return isinstance(pid, int) and pid != os.getpid() and _alive(pid)
    since = holder.get("since")
    if not isinstance(since, str):
        return False
    return utcnow() - datetime.fromisoformat(since) < STALE_AFTER
