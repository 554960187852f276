"""``tongbu report funnel`` as a user runs it: a subprocess, its table, its files, its errors."""

from __future__ import annotations

import csv
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from crm_core.db import create_engine
from tests.conftest import Database
from tests.e2e.test_cli import assert_clear_error, tongbu
from tests.integration.test_funnel import ORDER, OWNERS, build, cohort, reached, visits


@pytest.fixture
def funnel_url(tmp_path: Path) -> str:
    """A SQLite database holding the pipeline and the deals of the integration tests."""
    url = f"sqlite:///{tmp_path / 'funnel.db'}"
    assert tongbu("db", "upgrade", url=url).returncode == 0
    engine = create_engine(url)
    try:
        build(Database("sqlite", url, engine))
    finally:
        engine.dispose()
    return url


def cells(stdout: str, first: str, stage: str) -> list[str]:
    """The cells of the table row of a group and a stage."""
    for line in stdout.splitlines():
        parts = [cell.strip() for cell in line.split("│")[1:-1]]
        if parts[:2] == [first, stage]:
            return parts
    raise AssertionError(f"no row {first} / {stage} in:\n{stdout}")


def test_prints_the_table_and_writes_csv_and_html(funnel_url: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "reports"

    result = tongbu(
        "report",
        "funnel",
        "--from",
        "2025-04-01",
        "--to",
        "2025-06-30",
        "--out",
        f"{out_dir}/",
        "--out",
        str(tmp_path / "funnel-copy.csv"),
        url=funnel_url,
    )

    assert result.returncode == 0, result.stderr
    assert "Funnel of Sales: created 2025-04-01 to 2025-06-30 (Asia/Shanghai), CNY" in result.stdout
    deals = cohort()
    # Reached 5, Now 0, conversion 4/5 to Negotiation; four Proposal visits, all finished.
    assert cells(result.stdout, "(all)", "Proposal")[2:7] == [
        "5",
        "472,100.75",
        "0",
        "0.00",
        "80.0%",
    ]
    assert cells(result.stdout, "(all)", "Won (won)")[2:5] == ["3", "127,100.50", "3"]
    assert "(all): 9 opportunities, 3 won (win rate 33.3%)." in result.stdout
    assert f"Wrote {out_dir / 'funnel.csv'}" in result.stdout
    assert f"Wrote {out_dir / 'funnel.html'}" in result.stdout

    with (out_dir / "funnel.csv").open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["stage"] for line in lines] == ORDER
    assert (tmp_path / "funnel-copy.csv").read_text(encoding="utf-8") == (
        out_dir / "funnel.csv"
    ).read_text(encoding="utf-8")
    for line in lines:
        reaching = [deal for deal in deals if reached(deal, line["stage"])]
        assert int(line["reached"]) == len(reaching)
        assert Decimal(line["reached_amount"]) == sum(
            (deal.amount or 0 for deal in reaching), Decimal(0)
        )
        assert int(line["current"]) == sum(deal.current == line["stage"] for deal in deals)
        assert (line["group"], line["currency"], line["group_opportunities"]) == (
            "(all)",
            "CNY",
            "9",
        )
        assert line["group_win_rate"] == f"{3 / 9:.4f}"
    proposal = next(line for line in lines if line["stage"] == "Proposal")
    days = [value for deal in deals for value in visits(deal, "Proposal")]
    assert proposal["conversion_to_next"] == "0.8000"
    assert proposal["visits_timed"] == "4"
    assert proposal["avg_days_in_stage"] == f"{statistics.mean(days):.2f}"
    assert proposal["median_days_in_stage"] == f"{statistics.median(days):.2f}"

    page = (out_dir / "funnel.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 1
    assert "<rect" in page
    assert "Negotiation" in page


def test_per_team_in_an_html_file(funnel_url: str, tmp_path: Path) -> None:
    chart = tmp_path / "teams.html"

    result = tongbu("report", "funnel", "--by", "team", "--out", str(chart), url=funnel_url)

    assert result.returncode == 0, result.stderr
    north = [deal for deal in cohort(None, None) if OWNERS.get(deal.owner or "") == "North"]
    assert cells(result.stdout, "North", "Lead")[2] == str(len(north))
    assert cells(result.stdout, "(none)", "Lead")[2] == "1"
    assert chart.read_text(encoding="utf-8").count("<svg") == 3  # North, South, (none)


def test_clear_errors(funnel_url: str, tmp_path: Path) -> None:
    assert_clear_error(
        tongbu("report", "funnel", "--pipeline", "Nope", url=funnel_url),
        "no pipeline named 'Nope' (pipelines: Other, Sales)",
    )
    assert_clear_error(
        tongbu("report", "funnel", "--from", "2025-02-30", url=funnel_url),
        "--from '2025-02-30' is not a date: write it as YYYY-MM-DD",
    )
    assert_clear_error(
        tongbu("report", "funnel", "--from", "2025-05-01", "--to", "2025-04-01", url=funnel_url),
        "the date range ends (2025-04-01) before it starts (2025-05-01)",
    )
    assert_clear_error(
        tongbu("report", "funnel", "--by", "stage", url=funnel_url),
        "--by 'stage' is not a grouping: use one of none, owner, team",
    )
    assert_clear_error(
        tongbu("report", "funnel", "--out", str(tmp_path / "x.pdf"), url=funnel_url),
        "give a .csv file, a .html file or a folder",
    )
