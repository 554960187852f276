"""``tongbu dedup``: find duplicate customers, in a file or in the CRM core."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from crm_core.cli._app import err, out
from crm_core.cli._progress import PhaseBar

if TYPE_CHECKING:
    from crm_core.dedup import DedupResult

dedup_app = typer.Typer(help="Find duplicate accounts or contacts.", no_args_is_help=True)

EntityOption = Annotated[
    str, typer.Option("--entity", "-e", help="What the records are: account or contact.")
]
ThresholdOption = Annotated[
    float, typer.Option(help="The match probability from which two records are one.")
]
EncodingOption = Annotated[
    str | None, typer.Option(help="The file's encoding (default: UTF-8, else GB18030).")
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Use these match parameters instead of training them."),
]


@dedup_app.command("csv")
def dedup_csv(
    input_file: Annotated[Path, typer.Argument(metavar="INPUT.csv", help="The records to dedup.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write id,cluster_id.")],
    *,
    entity: EntityOption = "account",
    threshold: ThresholdOption = 0.9,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print the match model, and write every scored pair with each field's "
            "contribution next to the output (OUTPUT.pairs.csv).",
        ),
    ] = False,
    encoding: EncodingOption = None,
    model_file: ModelOption = None,
    save_model: Annotated[
        Path | None, typer.Option(help="Write the trained match parameters to this YAML file.")
    ] = None,
) -> None:
    """Dedup a CSV file without any database: writes each record's cluster id.

    Columns are named as the CRM fields (accounts: id,name,credit_code,phone,email,address,city,
    contact_name; contacts: id,first_name,last_name,birth_date,phone,email,street,city,postcode,
    state,national_id). Missing columns are allowed, others are ignored, empty cells are
    missing values. Records that match but cannot be clustered safely stay on their own and are
    listed in OUTPUT.review.csv.
    """
    from crm_core.dedup import RecordReader, entity_spec, load_model, write_clusters
    from crm_core.dedup._run import dedup_table, featurise
    from crm_core.dedup._table import FeatureTable
    from crm_core.errors import InvalidInput

    if not 0 < threshold < 1:
        raise InvalidInput("--threshold is a probability between 0 and 1 (exclusive)")
    spec = entity_spec(entity)
    model = load_model(model_file, spec.comparisons) if model_file else None
    with (
        PhaseBar("dedup", "records") as progress,
        RecordReader(input_file, spec, encoding) as reader,
    ):
        started = time.perf_counter()
        features = featurise(spec, reader.names, reader.chunks(), progress, chunked=True)
        reader.finish()
        if not reader.ids:
            raise InvalidInput(f"{input_file} has no records")
        ignored, ids = reader.ignored, reader.ids
        result = dedup_table(
            spec,
            FeatureTable(ids, features),
            threshold=threshold,
            model=model,
            progress=progress,
            normalised_in=time.perf_counter() - started,
        )
        progress.phase("writing")
        write_clusters(output, result.ids, result.cluster_ids)
    if ignored:
        err.print(f"ignored columns: {', '.join(ignored)}", highlight=False)
    review_file = _sibling(output, "review")
    if result.reviews:
        _write_reviews(review_file, result)
    elif review_file.exists():
        review_file.unlink()
    if save_model:
        result.model.save(save_model)
    if explain:
        out.print(model_table(result))
        _write_pairs(_sibling(output, "pairs"), result)
    _summary(result, output, review_file)


def _sibling(output: Path, kind: str) -> Path:
    return output.with_name(f"{output.stem}.{kind}{output.suffix or '.csv'}")


def _summary(result: DedupResult, output: Path, review_file: Path) -> None:
    records = len(result.ids)
    customers = result.clusters
    out.print(
        f"{records:,} records, {customers:,} customers ({records - customers:,} duplicates); "
        f"{len(result.pairs):,} candidate pairs, {result.matched:,} matches; "
        f"{result.timings['total']:.1f}s",
        highlight=False,
    )
    out.print(f"clusters written to {output}", highlight=False)
    if result.reviews:
        held = sum(len(review.rows) for review in result.reviews)
        out.print(
            f"{len(result.reviews):,} groups ({held:,} records) held for review: {review_file}",
            highlight=False,
        )


def model_table(result: DedupResult) -> Table:
    """The match model: per comparison and level, m, u and the weight."""
    table = Table(title=f"Match model (prior log2-odds {result.model.prior_weight:+.2f})")
    for column in ("comparison", "level", "m", "u", "weight"):
        table.add_column(column, justify="right" if column in ("m", "u", "weight") else "left")
    for params in result.model.fields:
        weights = params.weights()
        for level in range(1, len(params.labels)):
            table.add_row(
                params.name if level == 1 else "",
                params.labels[level],
                f"{params.m[level]:.4f}",
                f"{params.u[level]:.6f}",
                f"{weights[level]:+.2f}",
            )
    return table


def _write_reviews(path: Path, result: DedupResult) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(("review", "id", "reason"))
        for number, review in enumerate(result.reviews, start=1):
            for row in review.rows:
                writer.writerow((number, result.ids[row], review.reason))


def _write_pairs(path: Path, result: DedupResult) -> None:
    """Every candidate pair with a chance of matching: levels, weights, total, guard."""
    import numpy as np

    from crm_core.dedup import probability

    weights = result.model.weight_table()
    names = [params.name for params in result.model.fields]
    labels = [params.labels for params in result.model.fields]
    guards = [guard.reason for guard in result.spec.guards]
    plain = result.model.scores(result.levels)
    # Pairs with some evidence for a match (the prior left out: it depends on the input's size).
    shown = np.flatnonzero(plain - result.model.prior_weight >= -5)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        header = ["left_id", "right_id", "probability", "weight", "guard"]
        for name in names:
            header += [f"{name}_level", f"{name}_weight"]
        writer.writerow(header)
        for index in shown.tolist():
            levels = result.levels[index].tolist()
            guard = int(result.forbidden_by[index])
            row = [
                result.ids[int(result.pairs.left[index])],
                result.ids[int(result.pairs.right[index])],
                f"{0.0 if guard else probability(float(plain[index])):.4f}",
                f"{plain[index]:+.2f}",
                guards[guard - 1] if guard else "",
            ]
            for column, level in enumerate(levels):
                row += [labels[column][level], f"{weights[column][level]:+.2f}"]
            writer.writerow(row)


@dedup_app.command("explain")
def dedup_explain(
    input_file: Annotated[Path, typer.Argument(metavar="INPUT.csv", help="The records.")],
    left: Annotated[str, typer.Argument(metavar="ID", help="One record's id.")],
    right: Annotated[str, typer.Argument(metavar="ID", help="The other record's id.")],
    *,
    entity: EntityOption = "account",
    threshold: ThresholdOption = 0.9,
    encoding: EncodingOption = None,
    model_file: ModelOption = None,
) -> None:
    """Explain for two records of a file each field's contribution to their match weight."""
    from crm_core.dedup import dedup_records, entity_spec, explain_pair, load_model, read_records

    spec = entity_spec(entity)
    model = load_model(model_file, spec.comparisons) if model_file else None
    with PhaseBar("dedup", "records") as progress:
        progress.phase(f"reading {input_file.name}")
        records = read_records(input_file, spec, encoding)
        result = dedup_records(
            spec,
            records.ids,
            records.names,
            records.values,
            threshold=threshold,
            model=model,
            progress=progress,
        )
    found = explain_pair(result, left, right)
    table = Table(title=f"{left} and {right}")
    for column in ("comparison", "level", "weight"):
        table.add_column(column, justify="right" if column == "weight" else "left")
    table.add_row("prior", "", f"{found.prior:+.2f}")
    for name, level, weight in found.parts:
        table.add_row(name, level, f"{weight:+.2f}")
    table.add_row("total", "", f"{found.score:+.2f}", style="bold")
    out.print(table)
    verdict = "the same customer" if found.same_cluster else "different customers"
    out.print(f"match probability {found.probability:.4f}; clustered as {verdict}", highlight=False)
    if found.guard:
        out.print(f"forbidden by a guard: {found.guard}", highlight=False)
    if not found.candidate:
        out.print("not a candidate pair: they share no blocking key", highlight=False)


@dedup_app.command("run")
def dedup_run(
    entity: EntityOption = "account",
    *,
    apply: Annotated[
        bool, typer.Option("--apply", help="Carry out the merges (default: only show them).")
    ] = False,
    threshold: ThresholdOption = 0.9,
    limit: Annotated[int, typer.Option(help="Show at most this many planned merges.")] = 50,
) -> None:
    """Find duplicate accounts or contacts in the CRM core and plan their merges.

    Without --apply nothing is written. Each merge keeps its before-images: `tongbu merge undo`
    restores it exactly, and the dedup never proposes that merge again.
    """
    from crm_core.cli._app import state
    from crm_core.dedup import entity_spec
    from crm_core.dedup._core import apply_core_dedup, plan_core_dedup

    spec = entity_spec(entity)
    engine = state.engine()
    with PhaseBar("dedup", "records") as progress:
        planned = plan_core_dedup(engine, spec, threshold=threshold, progress=progress)
    table = Table(title=f"Planned merges of {planned.entity} ({planned.records:,} records)")
    for column in ("survivor", "merged into it", "weakest match"):
        table.add_column(column)
    for plan, chance in planned.plans[:limit]:
        table.add_row(
            plan.titles[plan.survivor_id],
            "\n".join(plan.titles[loser] for loser in plan.loser_ids),
            f"{chance:.3f}",
        )
    if planned.plans:
        out.print(table)
    merged = sum(len(plan.loser_ids) for plan, _chance in planned.plans)
    out.print(
        f"{len(planned.plans):,} merges planned ({merged:,} records merged away); "
        f"{len(planned.held_back):,} groups held back for review",
        highlight=False,
    )
    if planned.branches:
        out.print(
            f"{len(planned.branches):,} branches to link to their head office (never merged)",
            highlight=False,
        )
    for held in planned.held_back[:limit]:
        ids = ", ".join(str(record_id)[-8:] for record_id in held.record_ids)
        out.print(f"  review: {ids}: {held.reason}", highlight=False, markup=False)
    if not apply:
        if planned.plans or planned.branches:
            out.print("nothing written: add --apply to merge", highlight=False)
        return
    done, failed = apply_core_dedup(engine, planned)
    out.print(
        f"{len(done):,} merges applied; {len(planned.branches):,} branches linked",
        highlight=False,
    )
    for held in failed:
        ids = ", ".join(str(record_id)[-8:] for record_id in held.record_ids)
        out.print(f"  not merged: {ids}: {held.reason}", highlight=False, markup=False)
