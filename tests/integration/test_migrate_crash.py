"""Crash safety of ``tongbu migrate run``: a migration killed at random moments and resumed
with ``--resume RUN_ID`` each time ends exactly as an uninterrupted one: the same accounts, the
same merges, the same quarantine, every legacy key linked once, the same report."""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import Engine, select

from crm_core.db import create_engine, open_session
from crm_core.mapping import load_mapping
from crm_core.migrate import CsvSource, MigrationOptions, SourceRow, run_migration
from crm_core.models import MigrationCheckpoint
from tests.conftest import Database
from tests.integration.migrate_helpers import (
    MAPPING,
    EndState,
    end_state,
    fresh_postgres,
    legacy_file,
    upgrade,
)

KILLS = 10
KILLS_STARTING = 2
"""Of the kills, those while the run starts and plans; the others come while it loads."""
ROWS = 1500
CHUNK = 50
COUNTS = ("read", "created", "updated", "unchanged", "merged", "quarantined")


# --------------------------------------------------------------------------- in-process


class _Killed(Exception):
    """The stand-in for a crash in the middle of loading."""


class _CrashingCsv(CsvSource):
    """A CSV source whose reading stops with :class:`_Killed` at row ``crash_at`` of its
    ``crash_on``-th pass (the first pass is the dedup plan's, the second the load's)."""

    def __init__(self, path: Path, crash_at: int, crash_on: int = 2) -> None:
        super().__init__(path)
        self.crash_at, self.crash_on, self.passes = crash_at, crash_on, 0

    def __iter__(self) -> Iterator[SourceRow]:
        self.passes += 1
        for index, row in enumerate(super().__iter__()):
            if self.passes == self.crash_on and index == self.crash_at:
                raise _Killed(f"killed at row {index}")
            yield row


def _run_id(engine: Engine) -> UUID | None:
    with open_session(engine) as session:
        ids = list(session.scalars(select(MigrationCheckpoint.run_id)))
    assert len(ids) <= 1, ids
    return ids[0] if ids else None


def test_a_run_crashed_three_times_in_process_ends_as_an_uninterrupted_one(
    db: Database, tmp_path: Path
) -> None:
    """Crashes at rows 100, 250 and 333 (chunks of 25): among the rows read again after each
    resume are rows whose legacy id repeats the one of a quarantined row before the crash."""
    source = legacy_file(tmp_path / "legacy.csv", 400, seed=3, repeat_invalid_keys=True)
    mapping = load_mapping(MAPPING)
    options = MigrationOptions(chunk_size=25)
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade(reference_url)
    reference_engine = create_engine(reference_url)
    try:
        expected = run_migration(reference_engine, CsvSource(source.path), mapping, options=options)
        expected_state = end_state(reference_engine)
    finally:
        reference_engine.dispose()

    positions = []
    for crash_at in (100, 250, 333):
        run_id = _run_id(db.engine)
        crashing = _CrashingCsv(source.path, crash_at, crash_on=1 if run_id else 2)
        with pytest.raises(_Killed):
            run_migration(db.engine, crashing, mapping, options=options, resume=run_id)
        positions.append(_position(db))
    run_id = _run_id(db.engine)
    report = run_migration(db.engine, CsvSource(source.path), mapping, resume=run_id)

    assert 0 < positions[0] < positions[1] < positions[2] <= 333, positions
    assert report.total == expected.total
    assert report.to_json()["checksum"] == expected.to_json()["checksum"]
    assert end_state(db.engine) == expected_state


def _position(db: Database) -> int:
    with open_session(db.engine) as session:
        return session.scalars(select(MigrationCheckpoint.position)).one()


# --------------------------------------------------------------------------- killed for real


class _Migration:
    """``tongbu migrate run`` in a subprocess, its stderr lines read as they come."""

    def __init__(self, url: str, source: Path, report: Path, resume: UUID | None) -> None:
        args = ["--source", str(source), "--mapping", str(MAPPING), "--report", str(report)]
        args += ["--chunk-size", str(CHUNK)]
        if resume is not None:
            args += ["--resume", str(resume)]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crm_core.cli", "migrate", "run", *args],
            env={**os.environ, "TONGBU_DATABASE_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put((time.monotonic(), line))
        self.lines.put((time.monotonic(), ""))

    def wait_for(self, prefix: str, timeout: float = 120.0) -> float | None:
        """The moment (since the start) the line starting with ``prefix`` came; None when the
        process ended without it."""
        deadline = time.monotonic() + timeout
        while True:
            moment, line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if not line:
                return None
            self.stderr.append(line)
            if line.startswith(prefix):
                return moment - self.started

    def kill(self) -> bool:
        """SIGKILL it; False when it had finished already."""
        if self.process.poll() is not None:
            self.finish()
            return False
        self.process.kill()
        self.finish()
        return True

    def finish(self, timeout: float = 300.0) -> int:
        """Wait for the end; its exit code."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        while not self.lines.empty():
            self.stderr.append(self.lines.get()[1])
        return code


@dataclass(frozen=True)
class _Checkpoint:
    run_id: UUID | None = None
    position: int = 0
    phase: str | None = None


def _checkpoint(url: str) -> _Checkpoint:
    """The run's checkpoint; an empty one before the run has one."""
    engine = create_engine(url)
    try:
        with open_session(engine) as session:
            rows = list(
                session.execute(
                    select(
                        MigrationCheckpoint.run_id,
                        MigrationCheckpoint.position,
                        MigrationCheckpoint.phase,
                    )
                )
            )
    finally:
        engine.dispose()
    assert len(rows) <= 1, f"{len(rows)} runs were started, not one: {rows}"
    return _Checkpoint(*rows[0]) if rows else _Checkpoint()


def _state(url: str) -> EndState:
    engine = create_engine(url)
    try:
        return end_state(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh databases of one backend with the Tongbu schema: one for the uninterrupted
    run, one for the killed one."""
    if request.param == "sqlite":
        urls = tuple(f"sqlite:///{tmp_path / name}.db" for name in ("whole", "killed"))
        for url in urls:
            upgrade(url)
        yield urls[0], urls[1]
        return
    with fresh_postgres() as whole, fresh_postgres() as killed:
        yield whole, killed


def test_a_migration_killed_at_10_random_moments_ends_as_an_uninterrupted_one(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    whole_url, killed_url = two_databases
    source = legacy_file(tmp_path / "legacy.csv", ROWS, seed=11, repeat_invalid_keys=True)

    whole = _Migration(whole_url, source.path, tmp_path / "whole.json", None)
    report_path = tmp_path / "killed.json"
    loading_at = whole.wait_for("migrate: loading")
    assert whole.finish() == 0, "".join(whole.stderr)
    duration = time.monotonic() - whole.started
    assert loading_at is not None
    loading = duration - loading_at

    chance = random.Random(20261126)
    starting = sorted(chance.uniform(0.0, loading_at) for _ in range(KILLS_STARTING))
    moments = sorted(chance.uniform(0.0, loading * 0.9) for _ in range(KILLS - KILLS_STARTING))
    kills: list[tuple[str, int]] = []
    """Each kill: when, and the position of the run after it."""
    for moment in starting:  # while it starts, reads and plans: nothing is written yet
        attempt = _Migration(killed_url, source.path, report_path, _checkpoint(killed_url).run_id)
        time.sleep(moment)
        if not attempt.kill():
            break
        kills.append((f"{moment:.2f} s after the start", _checkpoint(killed_url).position))
    for moment in moments:  # while it loads, chunk after chunk
        checkpoint = _checkpoint(killed_url)
        if checkpoint.phase == "done":
            break  # an attempt ended before its kill
        attempt = _Migration(killed_url, source.path, report_path, checkpoint.run_id)
        if attempt.wait_for("migrate: loading") is not None:
            done = loading * checkpoint.position / ROWS  # what the attempts before loaded
            time.sleep(max(moment - done, 0.0))
        if not attempt.kill():
            break
        kills.append((f"{moment:.2f} s into the loading", _checkpoint(killed_url).position))
    checkpoint = _checkpoint(killed_url)
    if checkpoint.phase != "done":
        last = _Migration(killed_url, source.path, report_path, checkpoint.run_id)
        assert last.finish() == 0, "".join(last.stderr)

    assert len(kills) == KILLS, f"the run ended after {len(kills)} kills: {kills}"
    assert sum(0 < position < ROWS for _moment, position in kills) >= KILLS // 2, kills
    expected = json.loads((tmp_path / "whole.json").read_text(encoding="utf-8"))
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["ok"], report["problems"]
    assert report["resumed"]
    assert {name: report[name] for name in COUNTS} == {name: expected[name] for name in COUNTS}
    assert report["sources"] == expected["sources"]
    assert report["checksum"] == expected["checksum"]
    assert sorted((r["reason"], r["count"]) for r in report["quarantine_reasons"]) == sorted(
        (r["reason"], r["count"]) for r in expected["quarantine_reasons"]
    )
    state, expected_state = _state(killed_url), _state(whole_url)
    assert [key for key, times in state.links.items() if times > 1] == []
    assert sum(state.live.values()) == sum(expected_state.live.values())
    assert state.live == expected_state.live
    assert (state.merges, state.merged_records) == (
        expected_state.merges,
        expected_state.merged_records,
    )
    assert state.quarantined == expected_state.quarantined
    assert state.links == expected_state.links
