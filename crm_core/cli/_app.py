"""The ``tongbu`` command: the typer application, its global options and error handling."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from crm_core import __version__
from crm_core.config import DATABASE_URL_ENV
from crm_core.errors import TongbuError

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The command imports the database layer only when a command needs it, so that --help and
# --version answer at once.

__all__ = ["State", "app", "err", "main", "out", "state"]


def _console(stream: object) -> Console:
    # Piped output (scripts, tests) gets wide lines instead of tables folded to 80 columns.
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    width = None if interactive or os.environ.get("COLUMNS") else 200
    return Console(file=stream, width=width, soft_wrap=not interactive)  # type: ignore[arg-type]


out = _console(sys.stdout)
"""Where results go."""
err = _console(sys.stderr)
"""Where errors and progress go."""


@dataclass
class State:
    """What every command shares: the database it works on."""

    database_url: str | None = None
    debug: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        """The engine of the chosen database (created on first use)."""
        if self._engine is None:
            from crm_core.db import create_engine

            self._engine = create_engine(self.database_url)
        return self._engine


state = State()

app = typer.Typer(
    name="tongbu",
    help="Tongbu (同步): the CRM integration hub. Keeps a CRM core in sync with ERP, "
    "accounting, messaging and more.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        out.print(f"tongbu {__version__}")
        raise typer.Exit


@app.callback()
def _global_options(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar=DATABASE_URL_ENV,
            help="The CRM core database (default: sqlite:///tongbu.db in this folder).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    state.database_url = database_url or None
    state.debug = debug


def main() -> None:
    """Entry point of the ``tongbu`` console script: one clear sentence on failure."""
    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except TongbuError as error:
        _fail(str(error), debug)
    except KeyboardInterrupt:
        _fail("interrupted", debug)
    except Exception as error:  # noqa: BLE001 - the last line of defence of the command
        _fail(_describe_unexpected(error), debug)


def _describe_unexpected(error: Exception) -> str:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(error, sa_exc.SQLAlchemyError):
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return f"the database refused the operation: {detail}"
    return f"unexpected {type(error).__name__}: {error} (run with --debug for details)"


def _fail(message: str, debug: bool) -> None:
    if debug:
        raise  # noqa: PLE0704 - re-raise the exception being handled, with its traceback
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    sys.exit(1)
