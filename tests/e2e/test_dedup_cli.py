"""``tongbu dedup csv`` and ``tongbu dedup run`` as a user runs them: files in, files out."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from crm_core import records
from crm_core.db import open_session
from crm_core.dedup import credit_code_check_char
from crm_core.models import Account, MergeHistory
from tests.conftest import Database
from tests.e2e.test_cli import assert_clear_error, tongbu

CODE = "91330106MA2CF3K2X"
CODE += credit_code_check_char(CODE)

ACCOUNTS = [
    ("id", "name", "credit_code", "phone", "city", "notes"),
    ("c1", "杭州华信电子科技有限公司", CODE, "0571-88886666", "杭州", "x"),
    ("c2", "华信电子科技(杭州)有限责任公司", "", "+86 571 8888 6666", "", "y"),
    ("c3", "杭州華信電子科技有限公司", CODE, "", "杭州市", ""),
    ("c4", "苏州华信电子科技有限公司", "", "0512-66668888", "苏州", ""),
    ("c5", "宁波海天塑机有限公司", "", "0574-86181234", "宁波", ""),
]


def write(path: Path, rows: Sequence[Sequence[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        csv.writer(stream).writerows(rows)
    return path


def clusters(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["id", "cluster_id"]
    return {row["id"]: row["cluster_id"] for row in rows}


def test_a_file_of_accounts_gets_one_cluster_id_per_row(tmp_path: Path) -> None:
    source = write(tmp_path / "accounts.csv", ACCOUNTS)
    output = tmp_path / "clusters.csv"

    result = tongbu("dedup", "csv", str(source), "-o", str(output))

    assert result.returncode == 0, result.stderr
    assert clusters(output) == {"c1": "c1", "c2": "c1", "c3": "c1", "c4": "c4", "c5": "c5"}
    assert "5 records, 3 customers" in result.stdout
    assert "ignored columns: notes" in result.stderr


def test_explain_prints_the_model_and_each_pairs_evidence(tmp_path: Path) -> None:
    source = write(tmp_path / "accounts.csv", ACCOUNTS)
    output = tmp_path / "clusters.csv"

    result = tongbu("dedup", "csv", str(source), "-o", str(output), "--explain")

    assert result.returncode == 0, result.stderr
    assert "Match model" in result.stdout
    with (tmp_path / "clusters.pairs.csv").open(encoding="utf-8", newline="") as stream:
        pairs = {(row["left_id"], row["right_id"]): row for row in csv.DictReader(stream)}
    assert pairs[("c1", "c3")]["credit_code_level"] == "same credit_code"
    assert float(pairs[("c1", "c3")]["credit_code_weight"]) > 0
    lookalike = pairs.get(("c1", "c4")) or pairs[("c4", "c1")]
    assert lookalike["guard"] == "different regions"
    assert float(lookalike["probability"]) == 0


def test_a_gbk_file_is_read_and_a_file_in_no_known_encoding_is_refused(tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    gbk = write(tmp_path / "gbk.csv", ACCOUNTS, encoding="gbk")
    assert tongbu("dedup", "csv", str(gbk), "-o", str(output)).returncode == 0
    assert clusters(output)["c2"] == "c1"

    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"id,name\n1,\xff\xfe\xff\n")
    assert_clear_error(
        tongbu("dedup", "csv", str(broken), "-o", str(output)), "neither UTF-8 nor GB18030"
    )


def test_bad_files_get_a_clear_error(tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    no_id = write(tmp_path / "no_id.csv", [("name", "phone"), ("华信", "1")])
    assert_clear_error(tongbu("dedup", "csv", str(no_id), "-o", str(output)), "has no id column")
    twice = write(tmp_path / "twice.csv", [("id", "name"), ("1", "华信"), ("1", "海天")])
    assert_clear_error(
        tongbu("dedup", "csv", str(twice), "-o", str(output)), "1 duplicate id(s): 1"
    )
    assert_clear_error(
        tongbu("dedup", "csv", str(tmp_path / "missing.csv"), "-o", str(output)), "cannot read"
    )
    source = write(tmp_path / "accounts.csv", ACCOUNTS)
    assert_clear_error(
        tongbu("dedup", "csv", str(source), "-o", str(output), "-e", "lead"),
        "dedup knows account and contact records",
    )
    assert not output.exists()


def test_dedup_run_plans_then_applies_and_merge_undo_restores(db: Database) -> None:
    with open_session(db.engine, origin="crm") as session:
        kept = records.create(
            session, Account, {"name": "杭州华信电子科技有限公司", "credit_code": CODE}
        ).id
        records.create(
            session,
            Account,
            {"name": "杭州華信電子科技有限公司", "credit_code": None, "phone": "0571-88886666"},
        )

    planned = tongbu("dedup", "run", url=db.url)
    assert planned.returncode == 0, planned.stderr
    assert "1 merges planned (1 records merged away)" in planned.stdout
    assert "nothing written" in planned.stdout

    applied = tongbu("dedup", "run", "--apply", url=db.url)
    assert "1 merges applied" in applied.stdout
    with open_session(db.engine) as session:
        live = [a for a in session.query(Account).all() if a.deleted_at is None]
    assert [account.id for account in live] == [kept]

    with open_session(db.engine) as session:
        merge_id = str(session.scalars(select(MergeHistory.id)).one())
    assert merge_id[-8:] in tongbu("merge", "list", url=db.url).stdout
    assert tongbu("merge", "undo", merge_id[-8:], url=db.url).returncode == 0
    assert "0 merges planned" in tongbu("dedup", "run", url=db.url).stdout


def test_explain_shows_each_fields_contribution_for_a_pair(tmp_path: Path) -> None:
    source = write(tmp_path / "accounts.csv", ACCOUNTS)

    same = tongbu("dedup", "explain", str(source), "c1", "c3")
    apart = tongbu("dedup", "explain", str(source), "c1", "c4")

    assert same.returncode == 0, same.stderr
    assert "same credit_code" in same.stdout
    assert "clustered as the same customer" in same.stdout
    assert "forbidden by a guard: different regions" in apart.stdout
    assert "clustered as different customers" in apart.stdout
    assert_clear_error(
        tongbu("dedup", "explain", str(source), "c1", "nope"), "no record has the id 'nope'"
    )
