"""The reference for the dedup benchmark: Splink 5 (DuckDB backend) with a standard setup.

Reads the same CSV as ``tongbu dedup csv`` (columns named as the CRM fields; missing columns
allowed, extra ones ignored, empty cells missing) and writes ``id,cluster_id`` for every input
row, in input order. Splink stays out of the project's environment; it runs in its own::

    sh bench/splink/setup.sh     # creates bench/.venv-splink from bench/splink/requirements.txt
    bench/.venv-splink/bin/python bench/splink/run.py --entity contact INPUT.csv -o OUTPUT.csv

It prints one JSON line: wall seconds in total (process start to output written, imports
included) and per phase (``import``, ``load`` the CSV into DuckDB, ``train`` the model,
``predict`` the scored pairs, ``cluster`` them, ``write`` the output), the number of scored pairs
and of clusters, the largest cluster, and the peak resident memory in MB (ru_maxrss of the
process plus its children; DuckDB runs inside the process).

The model is the one Splink's documentation and its FEBRL examples build, on the columns the file
has (a column that is missing or empty everywhere is left out):

* Input: trimmed, empty cells as NULL; names, e-mails, addresses and cities in lower case;
  phones reduced to their digits; credit codes in upper case; an 8-digit birth date
  (``19560409``) written as an ISO date. No Chinese-specific work: this is the standard setup.
* Comparisons from ``splink.comparison_library``: names with ``NameComparison`` (exact with term
  frequencies, Jaro-Winkler 0.92 / 0.88 / 0.7), company name with Jaro-Winkler 0.92 / 0.88 / 0.7
  and term frequencies; exact matches for credit code, phone and e-mail (term frequencies on
  phone and e-mail) and postcode (term frequencies); the birth date with
  ``DateOfBirthComparison`` (exact, Levenshtein 1, within a month, a year, ten years); the
  national id with Damerau-Levenshtein 1 / 2; address and street with Jaro-Winkler 0.9 / 0.8;
  the city exact (for contacts only when there is no postcode, which it duplicates).
* Blocking rules for prediction: exact keys (accounts: credit code, phone, e-mail, name,
  contact name with city, address; contacts: national id, first and last name, the two names
  swapped, birth date, postcode, street, phone, e-mail).
* Training: ``estimate_probability_two_random_records_match`` from deterministic rules with a
  recall of 0.8 (accounts: the credit code, or name and phone; contacts: the national id, or
  both names and the birth date), ``estimate_u_using_random_sampling`` (10 million pairs, the
  least Splink's documentation advises, with a fixed seed; ``--u-max-pairs`` changes it), then
  ``estimate_parameters_using_expectation_maximisation`` on two blocking rules (accounts: phone,
  then name; contacts: birth date, then postcode).
* ``predict`` keeps pairs with a match probability of at least 0.2;
  ``cluster_pairwise_predictions_at_threshold`` joins the pairs at or above ``--threshold``
  (default 0.95) into connected components.

``--verbose`` shows Splink's own log (training sessions, parameter estimates) on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

STARTED = time.perf_counter()
"""When the script started; Splink and DuckDB are imported by run(), as its first phase."""

PREDICT_THRESHOLD = 0.2
"""Pairs below this match probability are not kept by predict (as in Splink's examples)."""
DEFAULT_THRESHOLD = 0.95
U_MAX_PAIRS = 1e7
SEED = 42
RECALL = 0.8
"""The share of true matches the deterministic rules are taken to find (Splink's FEBRL4 example)."""

Comparison = Any
"""A comparison of splink.comparison_library (Splink's own types are not needed here)."""
BlockingRule = Any


Normaliser = Callable[[str], str]
"""The SQL expression of a column's normalised value, given the SQL of its raw value."""


def clean(column: str) -> str:
    """Trimmed, and NULL when empty."""
    return f"nullif(trim({column}), '')"


def lower(column: str) -> str:
    """Trimmed, lower case, NULL when empty."""
    return f"lower({clean(column)})"


def upper(column: str) -> str:
    """Trimmed, upper case, NULL when empty."""
    return f"upper({clean(column)})"


def digits(column: str) -> str:
    """Only the digits, NULL when there are none."""
    return f"nullif(regexp_replace({column}, '[^0-9]', '', 'g'), '')"


def iso_date(column: str) -> str:
    """An 8-digit date (19560409) as ISO (1956-04-09); anything else trimmed."""
    value = clean(column)
    return (
        f"case when regexp_full_match({value}, '[0-9]{{8}}') then "
        f"substr({value}, 1, 4) || '-' || substr({value}, 5, 2) || '-' || substr({value}, 7, 2) "
        f"else {value} end"
    )


@dataclass(frozen=True)
class Entity:
    """The columns of one entity, their normalisation, and its Splink model."""

    columns: dict[str, Normaliser]
    comparisons: Callable[[ModuleType, set[str]], dict[str, Comparison]]
    """Column → its comparison, given splink.comparison_library and the columns that hold
    values."""
    blocking_rules: list[tuple[str, ...]]
    """Keys of the blocking rules for prediction (each a tuple of columns)."""
    deterministic_rules: list[tuple[str, ...]]
    """Keys whose agreement is taken as a match, to estimate the prior match probability."""
    em_rules: list[tuple[str, ...]]
    """Keys of the blocking rules for the two rounds of expectation maximisation."""


def account_comparisons(cl: ModuleType, present: set[str]) -> dict[str, Comparison]:
    """The account comparisons for the columns present (``cl``: splink.comparison_library)."""
    candidates: dict[str, Callable[[], Comparison]] = {
        "name": lambda: cl.JaroWinklerAtThresholds("name", [0.92, 0.88, 0.7]).configure(
            term_frequency_adjustments=True
        ),
        "credit_code": lambda: cl.ExactMatch("credit_code"),
        "phone": lambda: cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
        "email": lambda: cl.ExactMatch("email").configure(term_frequency_adjustments=True),
        "address": lambda: cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
        "city": lambda: cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        "contact_name": lambda: cl.NameComparison("contact_name"),
    }
    return {column: make() for column, make in candidates.items() if column in present}


def contact_comparisons(cl: ModuleType, present: set[str]) -> dict[str, Comparison]:
    """The contact comparisons for the columns present (``cl``: splink.comparison_library)."""
    candidates: dict[str, Callable[[], Comparison]] = {
        "first_name": lambda: cl.NameComparison("first_name").configure(
            term_frequency_adjustments=True
        ),
        "last_name": lambda: cl.NameComparison("last_name").configure(
            term_frequency_adjustments=True
        ),
        "birth_date": lambda: cl.DateOfBirthComparison("birth_date", input_is_string=True),
        "national_id": lambda: cl.DamerauLevenshteinAtThresholds("national_id", [1, 2]),
        "street": lambda: cl.JaroWinklerAtThresholds("street", [0.9, 0.8]),
        "postcode": lambda: cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        "phone": lambda: cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
        "email": lambda: cl.ExactMatch("email").configure(term_frequency_adjustments=True),
    }
    if "postcode" not in present:
        candidates["city"] = lambda: cl.ExactMatch("city").configure(
            term_frequency_adjustments=True
        )
    return {column: make() for column, make in candidates.items() if column in present}


SWAPPED_NAMES = ("first_name", "last_name", "swapped")
"""The key of the rule that pairs a first name with the other record's last name and back."""

ENTITIES = {
    "account": Entity(
        columns={
            "name": lower,
            "credit_code": upper,
            "phone": digits,
            "email": lower,
            "address": lower,
            "city": lower,
            "contact_name": clean,
        },
        comparisons=account_comparisons,
        blocking_rules=[
            ("credit_code",),
            ("phone",),
            ("email",),
            ("name",),
            ("contact_name", "city"),
            ("address",),
        ],
        deterministic_rules=[("credit_code",), ("name", "phone")],
        em_rules=[("phone",), ("name",)],
    ),
    "contact": Entity(
        columns={
            "first_name": lower,
            "last_name": lower,
            "birth_date": iso_date,
            "phone": digits,
            "email": lower,
            "street": lower,
            "city": lower,
            "postcode": clean,
            "state": lower,
            "national_id": clean,
        },
        comparisons=contact_comparisons,
        blocking_rules=[
            ("national_id",),
            ("first_name", "last_name"),
            SWAPPED_NAMES,
            ("birth_date",),
            ("postcode",),
            ("street",),
            ("phone",),
            ("email",),
        ],
        deterministic_rules=[("national_id",), ("first_name", "last_name", "birth_date")],
        em_rules=[("birth_date",), ("postcode",)],
    ),
}


def rules(
    keys: list[tuple[str, ...]], present: set[str], block_on: Callable[..., BlockingRule]
) -> list[BlockingRule]:
    """Blocking rules (made by Splink's ``block_on``) for the keys whose columns all hold
    values."""
    made: list[BlockingRule] = []
    for key in keys:
        if key == SWAPPED_NAMES:
            if {"first_name", "last_name"} <= present:
                made.append("l.first_name = r.last_name and l.last_name = r.first_name")
        elif set(key) <= present:
            made.append(block_on(*key))
    return made


def load(con: Any, path: Path, entity: Entity) -> tuple[int, set[str]]:
    """Load the CSV into the table ``records`` (every value text, normalised, in input order
    as ``input_row``) and return its row count and the columns that hold at least one value."""
    con.execute(
        "create table raw as select * from read_csv(?, header = true, all_varchar = true, "
        "delim = ',', quote = '\"', escape = '\"')",
        [str(path)],
    )
    header = {row[0] for row in con.execute("select name from pragma_table_info('raw')").fetchall()}
    if "id" not in header:
        raise SystemExit(f"error: {path} has no id column")
    selects = ["row_number() over () as input_row", "raw.id as id"]
    selects += [
        f"{normalise(f'raw.{column}')} as {column}"
        for column, normalise in entity.columns.items()
        if column in header
    ]
    con.execute(f"create table records as select {', '.join(selects)} from raw")
    con.execute("drop table raw")
    rows, distinct, empty = _one(
        con, "select count(*), count(distinct id), count(*) - count(id) from records"
    )
    if empty:
        raise SystemExit(f"error: {path} has {empty} rows without an id")
    if rows != distinct:
        raise SystemExit(f"error: {path} has {rows - distinct} duplicate ids")
    present = {
        column
        for column in entity.columns
        if column in header and _one(con, f"select count({column}) from records")[0]
    }
    return rows, present


def _one(con: Any, sql: str) -> tuple[Any, ...]:
    """The one row of a query."""
    rows = con.execute(sql).fetchall()
    if len(rows) != 1:
        raise RuntimeError(f"{len(rows)} rows from {sql}")
    return tuple(rows[0])


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus that of its children, in MB."""
    kilobytes = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return round(kilobytes / 1024, 1)


def run(
    entity_name: str,
    input_csv: Path,
    output_csv: Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    u_max_pairs: float = U_MAX_PAIRS,
    verbose: bool = False,
) -> dict[str, Any]:
    """Dedup ``input_csv`` with Splink and write ``id,cluster_id`` to ``output_csv``; return the
    figures. ``verbose`` shows Splink's own log on stderr."""
    entity = ENTITIES[entity_name]
    seconds: dict[str, float] = {}
    mark = STARTED

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds[name] = now - mark
        mark = now

    # mypy checks bench/ in the project's environment, where Splink and DuckDB are absent and
    # `splink` is this folder: hence the ignores.
    import duckdb  # type: ignore[import-not-found]
    import splink
    import splink.comparison_library as cl  # type: ignore[import-not-found]
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # type: ignore[attr-defined]

    phase("import")

    con = duckdb.connect()
    rows, present = load(con, input_csv, entity)
    comparisons = entity.comparisons(cl, present)
    blocking_rules = rules(entity.blocking_rules, present, block_on)
    if not comparisons or not blocking_rules:
        raise SystemExit(f"error: {input_csv} has no column to compare {entity_name}s on")
    db_api = DuckDBAPI(connection=con)
    records = db_api.register("records", dataset_display_name="records")
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="id",
        comparisons=list(comparisons.values()),
        blocking_rules_to_generate_predictions=blocking_rules,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(records, settings, log_level=logging.INFO if verbose else logging.WARNING)
    phase("load")

    deterministic = rules(entity.deterministic_rules, present, block_on)
    if deterministic:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=RECALL)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=SEED)
    for rule in rules(entity.em_rules, present, block_on):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    phase("train")

    predictions = linker.inference.predict(threshold_match_probability=PREDICT_THRESHOLD)
    pairs = _one(con, f"select count(*) from {predictions.physical_name}")[0]
    phase("predict")

    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    sizes = _one(
        con,
        f"select count(*), max(n) from (select count(*) as n from {clusters.physical_name} "
        "group by cluster_id)",
    )
    phase("cluster")

    output_csv.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"copy (select r.id, c.cluster_id from records r join {clusters.physical_name} c "
        "using (id) order by r.input_row) to ? (header, delimiter ',')",
        [str(output_csv)],
    )
    phase("write")
    seconds["total"] = time.perf_counter() - STARTED
    return {
        "tool": "splink",
        "version": splink.__version__,  # type: ignore[attr-defined]
        "entity": entity_name,
        "input": str(input_csv),
        "rows": rows,
        "compared": list(comparisons),
        "threshold": threshold,
        "u_max_pairs": u_max_pairs,
        "pairs": pairs,
        "clusters": sizes[0],
        "largest_cluster": sizes[1],
        "wall_seconds": {name: round(value, 3) for name, value in seconds.items()},
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    """Run Splink on one CSV file and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(
        description="Dedup a CSV of accounts or contacts with Splink 5 (DuckDB), the reference."
    )
    parser.add_argument("--entity", choices=sorted(ENTITIES), required=True)
    parser.add_argument("input", type=Path, help="the CSV to dedup (columns named as CRM fields)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="id,cluster_id")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"match probability at which pairs are clustered (default {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--u-max-pairs",
        type=float,
        default=U_MAX_PAIRS,
        help=f"pairs sampled to estimate the u probabilities (default {U_MAX_PAIRS:.0e})",
    )
    parser.add_argument("--verbose", action="store_true", help="show Splink's log on stderr")
    args = parser.parse_args(argv)
    if not 0 < args.threshold <= 1:
        parser.error("--threshold is a probability in (0, 1]")
    if not args.input.is_file():
        parser.error(f"no such file: {args.input}")
    figures = run(
        args.entity,
        args.input,
        args.output,
        threshold=args.threshold,
        u_max_pairs=args.u_max_pairs,
        verbose=args.verbose,
    )
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
