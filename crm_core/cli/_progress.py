"""The progress of a long command on stderr: phases with a bar, the count, the rate and the
time left on a terminal; plain lines at each phase and every few seconds otherwise (a log)."""

from __future__ import annotations

import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from crm_core.cli._app import err

__all__ = ["PhaseBar"]

_LOG_EVERY_S = 5.0


class PhaseBar:
    """Phases of the command ``command`` counting ``unit`` (rows, records...)."""

    def __init__(self, command: str, unit: str = "rows") -> None:
        self._command, self._unit = command, unit
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self._task: TaskID | None = None
        self._name = ""
        self._done = 0
        self._total: int | None = None
        self._started = time.perf_counter()
        self._logged = self._started

    def __enter__(self) -> PhaseBar:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def phase(self, name: str, total: int | None = None) -> None:
        """Start a phase (of ``total`` steps when known)."""
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._name, self._done, self._total = name, 0, total
        self._started = self._logged = time.perf_counter()
        self._task = self._progress.add_task(name, total=total, rate="")
        if not err.is_terminal:
            size = f" ({total:,} {self._unit})" if total else ""
            err.print(f"{self._command}: {name}{size}", highlight=False)

    def advance(self, steps: int) -> None:
        """``steps`` more done."""
        self._done += steps
        now = time.perf_counter()
        rate = f"{self._done / max(now - self._started, 1e-9):,.0f} {self._unit}/s"
        if self._task is not None:
            self._progress.update(self._task, advance=steps, rate=rate)
        if not err.is_terminal and now - self._logged >= _LOG_EVERY_S:
            self._logged = now
            of = f"/{self._total:,}" if self._total else ""
            err.print(
                f"{self._command}: {self._name}: {self._done:,}{of} {self._unit}, {rate}",
                highlight=False,
            )
