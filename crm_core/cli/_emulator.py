"""``tongbu emulator``: run the bundled emulator of an external system on 127.0.0.1."""

from __future__ import annotations

import inspect
import time
from importlib.metadata import entry_points
from typing import Annotated, Any

import typer

from crm_core.cli._app import out
from crm_core.errors import InvalidInput

emulator_app = typer.Typer(
    help="Emulators of the external systems (for trying pipelines and for tests).",
    no_args_is_help=True,
)

ENTRY_POINT_GROUP = "tongbu.emulators"


def emulator_types() -> dict[str, Any]:
    """The emulators installed, by system name."""
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def parse_seed(text: str | None) -> dict[str, int]:
    """``customers=100,orders=20`` as a dict of counts."""
    seed: dict[str, int] = {}
    for part in filter(None, (text or "").split(",")):
        name, _, count = part.partition("=")
        if not name.strip() or not count.strip().isdigit():
            raise InvalidInput(f"--seed takes NAME=COUNT pairs separated by commas, not {part!r}")
        seed[name.strip()] = int(count)
    return seed


@emulator_app.command("serve")
def serve(
    system: Annotated[
        str, typer.Argument(help="The system to emulate: kingdee, wecom-robot, dingtalk-robot.")
    ],
    port: Annotated[int, typer.Option("--port", help="The port on 127.0.0.1 (0: any free).")] = 0,
    seed: Annotated[
        str | None, typer.Option("--seed", help="Records to create, e.g. customers=100,orders=20.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="A SQLite file to keep the data in (default: memory)."),
    ] = None,
) -> None:
    """Serve an emulator until interrupted; prints its base URL and the credentials it accepts."""
    known = emulator_types()
    if system not in known:
        raise InvalidInput(
            f"no emulator for {system!r} (installed: {', '.join(sorted(known)) or 'none'})"
        )
    factory = known[system].load()
    accepted = inspect.signature(factory).parameters
    options: dict[str, Any] = {"port": port}
    for option, name, value in (
        ("--seed", "seed", parse_seed(seed)),
        ("--data", "data_path", data),
    ):
        if name in accepted:
            options[name] = value
        elif value:
            raise InvalidInput(f"the {system} emulator takes no {option}")
    emulator = factory(**options).start()
    credentials = " ".join(f"{key}={value}" for key, value in emulator.credentials.items())
    out.print(f"{system} emulator at {emulator.url}", highlight=False)
    out.print(credentials, highlight=False)
    out.print("Ctrl-C stops it.", highlight=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
