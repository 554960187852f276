"""``tongbu mapping``: check mapping files, and preview what they make of real records."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_core.cli._app import err, out

if TYPE_CHECKING:
    from crm_core.mapping import CompiledMapping

mapping_app = typer.Typer(
    help="Check mapping files (mappings/<system>/<entity>.yaml).", no_args_is_help=True
)


@mapping_app.command()
def check(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Mapping files to check.")],
) -> None:
    """Validate mapping files: a summary of each good one, every problem of a broken one.

    A problem names the file, the line and the field. Exits with 1 when a file is broken.
    """
    loaded = load_all(files)
    for mapping in loaded.values():
        out.print(f"ok: {summary(mapping)}", highlight=False, markup=False)
    if len(loaded) < len(files):
        raise typer.Exit(1)


def load_all(files: list[Path]) -> dict[Path, CompiledMapping]:
    """The mappings of ``files`` that load, by file; the problems of the others are printed."""
    from crm_core.mapping import MappingError, load_mapping

    loaded: dict[Path, CompiledMapping] = {}
    for path in files:
        try:
            loaded[path] = load_mapping(path)
        except MappingError as error:
            for problem in error.problems:
                err.print(problem, highlight=False, markup=False)
    return loaded


def summary(mapping: CompiledMapping) -> str:
    """One line about a mapping: ``kingdee-customer (BD_Customer <-> accounts, 12 fields)``."""
    text = (
        f"{mapping.name} ({mapping.external_entity} <-> {mapping.crm_entity}, "
        f"{len(mapping.fields)} fields"
    )
    if mapping.lines is not None:
        lines = mapping.lines
        text += f"; lines {lines.external} <-> {lines.crm_entity}, {len(lines.fields)} fields"
    return text + ")"


@mapping_app.command()
def preview(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The mapping file.")],
    sample: Annotated[int, typer.Option("--sample", help="How many records to read.")] = 5,
    pipeline: Annotated[
        str | None,
        typer.Option("--pipeline", help="The pipeline to read with (default: the one using FILE)."),
    ] = None,
) -> None:
    """Read a few records from the system and show, side by side, what the mapping makes of
    them. Writes nothing."""
    from rich.table import Table

    from crm_core.cli._app import state
    from crm_core.errors import InvalidInput
    from crm_core.mapping import load_mapping
    from crm_core.sync.pipeline import load_pipeline, pipeline_paths
    from crm_core.sync.review import preview as read_preview

    mapping = load_mapping(file)
    if pipeline is None:
        wanted = file.resolve()
        users = [p.stem for p in pipeline_paths() if load_pipeline(p).mapping_path() == wanted]
        if not users:
            raise InvalidInput(f"no pipeline uses {file}; name one with --pipeline")
        pipeline = users[0]
    for number, item in enumerate(read_preview(state.engine(), pipeline, sample), start=1):
        key = item.record.get(mapping.key)
        table = Table(title=f"{number}. {mapping.external_entity} {key}", title_justify="left")
        for column in (mapping.external_entity, "value", "", mapping.crm_entity, "mapped"):
            table.add_column(column, overflow="fold")
        for field in mapping.fields:
            external = field.external or "-"
            crm = field.crm or "-"
            source = item.record.get(field.external) if field.external else None
            mapped = item.values.get(field.crm, "") if item.values and field.crm else ""
            table.add_row(external, _text(source), str(field.direction), crm, _text(mapped))
        if item.lines is not None and mapping.lines is not None:
            table.add_row(
                mapping.lines.external,
                f"{len(item.record.get(mapping.lines.external) or [])} lines",
                "",
                mapping.lines.crm_entity,
                f"{len(item.lines)} lines",
            )
        out.print(table)
        if item.error:
            err.print(f"  [red]would be quarantined:[/] {item.error}", highlight=False)


def _text(value: object) -> str:
    return "" if value is None else str(value)
