"""``tongbu merge``: merge duplicate records, look at past merges, undo one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from rich.table import Table

from crm_core.cli._app import out, state
from crm_core.cli._sync import short_id

if TYPE_CHECKING:
    from crm_core.dedup._merge import MergePlan
    from crm_core.models import MergeHistory

merge_app = typer.Typer(
    help="Merge duplicate records (accounts, contacts), look at past merges, undo one.",
    no_args_is_help=True,
)


@merge_app.command("records")
def merge_records(
    record_ids: Annotated[
        list[str], typer.Argument(metavar="ID ID [ID...]", help="The records (or their digits).")
    ],
    entity: Annotated[
        str, typer.Option("--entity", "-e", help="What they are: account or contact.")
    ],
    survivor: Annotated[
        str | None,
        typer.Option("--survivor", help="The record that stays (default: the most referenced)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; write nothing.")
    ] = False,
) -> None:
    """Merge records into one: the survivor takes the best values and every link of the
    others, which are kept as "merged into" it. Undo with `tongbu merge undo`."""
    from crm_core import schema
    from crm_core.db import ORIGIN_CRM, open_session
    from crm_core.dedup._merge import apply_merge, find_record, plan_merge

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine, origin=None if dry_run else ORIGIN_CRM) as session:
        ids = [find_record(session, entity, text) for text in record_ids]
        chosen = find_record(session, entity, survivor) if survivor else None
        plan = plan_merge(session, entity, ids, survivor_id=chosen)
        print_plan(plan)
        if dry_run:
            out.print("Dry run: nothing was written.", highlight=False)
            return
        history = apply_merge(session, plan, reason={"by": "tongbu merge records"})
    label = _kind(plan.entity)
    out.print(
        f"Merged {len(plan.loser_ids)} {label}(s) into {plan.survivor_id} (merge "
        f"{short_id(history.id)}); undo with `tongbu merge undo {short_id(history.id)}`.",
        highlight=False,
    )


def print_plan(plan: MergePlan) -> None:
    """Print a merge plan: the records, each field's value and origin, what moves."""
    why = "chosen" if plan.survivor_given else "most references"
    out.print(
        f"Merge {len(plan.record_ids)} {_kind(plan.entity)}s into {plan.survivor_id} "
        f"{plan.titles[plan.survivor_id]} ({why})",
        highlight=False,
    )
    for loser in plan.loser_ids:
        out.print(f"  merged away: {loser} {plan.titles[loser]}", highlight=False)
    fields = [
        (name, choice.value, choice.source_id, choice.rule.value, choice.changed)
        for name, choice in plan.fields.items()
    ]
    out.print(_fields_table(fields, plan.survivor_id))
    counts = [(ref.table, ref.column, ref.moved, ref.removed) for ref in plan.references]
    out.print(_references_table(counts))


@merge_app.command("list")
def merge_list(
    entity: Annotated[
        str | None, typer.Option("--entity", "-e", help="Only account or contact merges.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many merges.")] = 20,
) -> None:
    """The latest merges, newest first."""
    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.dedup._merge import list_merges

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        merges = list_merges(session, entity=entity, limit=limit)
    table = Table(title="Merges", title_justify="left")
    for column in ("merge", "entity", "survivor", "name", "merged", "when", "status"):
        table.add_column(column)
    for item in merges:
        table.add_row(
            short_id(item.id),
            _kind(item.entity),
            short_id(item.survivor_id),
            _survivor_title(item),
            str(len(item.merged_ids)),
            f"{item.merged_at:%Y-%m-%d %H:%M:%S}",
            _status(item),
        )
    out.print(table)


@merge_app.command("show")
def merge_show(
    merge_id: Annotated[str, typer.Argument(metavar="ID", help="The merge id (or its digits).")],
) -> None:
    """One merge: the survivor, the merged records, each field's value and origin, what
    moved."""
    from crm_core import schema
    from crm_core.db import open_session
    from crm_core.dedup._merge import find_merge

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine) as session:
        item = find_merge(session, merge_id)
    out.print(
        f"merge {item.id} of {item.entity}, {item.merged_at:%Y-%m-%d %H:%M:%S} UTC: "
        f"{_status(item)}",
        highlight=False,
    )
    out.print(f"survivor: {item.survivor_id} {_survivor_title(item)}", highlight=False)
    for loser in item.merged_ids:
        out.print(f"merged:   {loser} {_title(item, loser)}", highlight=False)
    if item.reason:
        out.print(f"reason: {json.dumps(item.reason, ensure_ascii=False)}", highlight=False)
    fields = [
        (name, choice["value"], UUID(choice["source"]), choice["rule"], choice["changed"])
        for name, choice in (item.survivorship or {}).items()
    ]
    out.print(_fields_table(fields, item.survivor_id))
    counts = [
        (*name.rsplit(".", 1), numbers["moved"], numbers["removed"])
        for name, numbers in item.relinked.get("counts", {}).items()
    ]
    out.print(_references_table(counts))


@merge_app.command("undo")
def merge_undo(
    merge_id: Annotated[str, typer.Argument(metavar="ID", help="The merge id (or its digits).")],
) -> None:
    """Undo a merge: every record and link goes back to how it was, and the records are
    remembered as different so dedup never proposes the merge again."""
    from crm_core import schema
    from crm_core.db import ORIGIN_CRM, open_session
    from crm_core.dedup._merge import find_merge, undo_merge

    engine = state.engine()
    schema.require_current(engine)
    with open_session(engine, origin=ORIGIN_CRM) as session:
        item = undo_merge(session, find_merge(session, merge_id).id)
        restored = len(item.merged_ids)
    out.print(
        f"Undid merge {short_id(item.id)}: {restored} {_kind(item.entity)}(s) restored beside "
        f"{item.survivor_id}.",
        highlight=False,
    )


def _fields_table(fields: list[tuple[str, Any, UUID, str, bool]], survivor: UUID) -> Table:
    table = Table(title="Fields of the survivor", title_justify="left")
    for column in ("field", "value", "from", "rule"):
        table.add_column(column, overflow="fold")
    for name, value, source, rule, changed in fields:
        if value is None or value == "":
            continue
        origin = "survivor" if source == survivor else short_id(source)
        shown = str(value) + (" *" if changed else "")
        table.add_row(name, shown, origin, rule)
    table.caption = "* taken from another record"
    return table


def _references_table(counts: list[tuple[Any, ...]]) -> Table:
    table = Table(title="Moved to the survivor", title_justify="left")
    for column in ("table", "column", "moved", "duplicates removed"):
        table.add_column(column)
    for name, column_name, moved, removed in counts:
        table.add_row(str(name), str(column_name), str(moved), str(removed))
    return table


def _kind(entity: str) -> str:
    from crm_core.records import record_label

    return record_label(entity)


def _status(item: MergeHistory) -> str:
    if item.undone_at is None:
        return "merged"
    return f"undone {item.undone_at:%Y-%m-%d %H:%M:%S}"


def _survivor_title(item: MergeHistory) -> str:
    chosen = (item.survivorship or {}).get("name", {}).get("value")
    return str(chosen) if chosen else _title(item, str(item.survivor_id))


def _title(item: MergeHistory, record_id: str) -> str:
    from crm_core.dedup._merge import record_title

    image = item.before_images.get(item.entity, {}).get(record_id)
    return record_title(image) if image else ""
