"""The ``tongbu`` command, run as a user runs it: a subprocess, its output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from crm_core.sample import load_sample, sample_id
from tests.conftest import PG_ADMIN_URL, Database

TONGBU = str(Path(sys.executable).with_name("tongbu"))
HUAXIN = sample_id("account", "a_huaxin")


def tongbu(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TONGBU_DATABASE_URL"}
    if url is not None:
        env["TONGBU_DATABASE_URL"] = url
    return subprocess.run(
        [TONGBU, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def assert_clear_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit code 1, the message on stderr, and no traceback."""
    assert result.returncode == 1, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no Tongbu schema yet: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    name = f"tongbu_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for left in Path(tempfile.gettempdir()).glob(f"tongbu-demo-{name}.kingdee.db*"):
            left.unlink()  # the demo's emulator data for this database


@pytest.fixture
def sample(db: Database) -> Database:
    load_sample(db.engine)
    return db


def test_help_lists_the_commands() -> None:
    result = tongbu("--help")
    assert result.returncode == 0
    for command in ("db", "search", "accounts", "demo"):
        assert command in result.stdout
    for sub in (("db", "--help"), ("accounts", "show", "--help"), ("search", "--help")):
        assert tongbu(*sub).returncode == 0


def test_version() -> None:
    result = tongbu("--version")
    assert (result.returncode, result.stdout.strip()) == (0, "tongbu 0.1.0")


def test_db_upgrade_current_and_downgrade(fresh_url: str) -> None:
    result = tongbu("db", "current", url=fresh_url)
    assert result.returncode == 0
    assert "has no Tongbu schema yet" in result.stdout

    assert "is at revision 0007" in tongbu("db", "upgrade", url=fresh_url).stdout
    assert "(the newest)" in tongbu("db", "current", url=fresh_url).stdout

    result = tongbu("db", "downgrade", "-1", url=fresh_url)
    assert result.returncode == 0
    assert "is at revision 0006" in result.stdout
    assert "0006; the newest is 0007" in tongbu("db", "current", url=fresh_url).stdout
    assert "is at revision 0007" in tongbu("db", "upgrade", url=fresh_url).stdout

    result = tongbu("db", "downgrade", "base", url=fresh_url)
    assert result.returncode == 0
    assert "base (no Tongbu schema)" in result.stdout


def test_commands_on_an_unmigrated_database_say_what_to_do(fresh_url: str) -> None:
    assert_clear_error(tongbu("search", "华信", url=fresh_url), "run `tongbu db upgrade` first")


def test_search_prints_a_table(sample: Database) -> None:
    result = tongbu("search", "华信", url=sample.url)
    assert result.returncode == 0, result.stderr
    assert "杭州华信电子科技有限公司" in result.stdout
    assert str(HUAXIN) in result.stdout


def test_search_by_phone_as_json(sample: Database) -> None:
    result = tongbu("search", "+86 138 0013 8000", "--json", url=sample.url)
    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(hit["entity"], hit["name"], hit["score"]) for hit in hits] == [
        ("contact", "张伟", 100)
    ]


def test_search_with_entity_filter_and_limit(sample: Database) -> None:
    result = tongbu("search", "有限公司", "-e", "lead", "-n", "2", "--json", url=sample.url)
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(hits) == 2
    assert {hit["entity"] for hit in hits} == {"lead"}


def test_search_without_matches_says_so(sample: Database) -> None:
    result = tongbu("search", "不存在的公司名称", url=sample.url)
    assert result.returncode == 0
    assert "No account, contact or lead matches" in result.stdout


def test_accounts_show(sample: Database) -> None:
    result = tongbu("accounts", "show", str(HUAXIN), url=sample.url)
    assert result.returncode == 0, result.stderr
    for expected in (
        "杭州华信电子科技有限公司",
        "张伟",
        "2026年度ERP升级项目",
        "Recent activities",
    ):
        assert expected in result.stdout
    by_prefix = tongbu("accounts", "show", HUAXIN.hex[:10], url=sample.url)
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert "杭州华信电子科技有限公司" in by_prefix.stdout


def test_accounts_show_unknown_or_malformed_ids(sample: Database) -> None:
    missing = "01a213cf-0000-7000-8000-000000000000"
    assert_clear_error(tongbu("accounts", "show", missing, url=sample.url), "no account with id")
    assert_clear_error(
        tongbu("accounts", "show", "not-an-id", url=sample.url), "is not an account id"
    )


def test_a_bad_database_url_is_one_clear_sentence() -> None:
    assert_clear_error(tongbu("db", "current", url="nonsense"), "is not a valid database URL")
    assert_clear_error(
        tongbu("db", "current", url="mysql://root@127.0.0.1/test"),
        "database 'mysql' is not supported",
    )
    assert_clear_error(
        tongbu("db", "upgrade", url="postgresql://postgres@127.0.0.1:1/nowhere"),
        "cannot use the database at postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
    )


def test_malformed_arguments_are_usage_errors() -> None:
    for args in (("search",), ("search", "华信", "--limit", "0"), ("frobnicate",), ("db",)):
        result = tongbu(*args)
        assert result.returncode == 2, (args, result)
        assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = tongbu("--debug", "db", "current", url="nonsense")
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_demo_runs_twice(fresh_url: str) -> None:
    first = tongbu("demo", url=fresh_url)
    assert first.returncode == 0, first.stderr
    assert "Loaded" in first.stdout
    assert "杭州华信电子科技有限公司" in first.stdout
    assert "Assigned 11 lead(s)." in first.stdout
    assert "Put into pools by scope: east-accounts 16." in first.stdout
    second = tongbu("demo", url=fresh_url)
    assert second.returncode == 0, second.stderr
    assert "The sample is already loaded." in second.stdout
    assert "Assigned 0 lead(s)." in second.stdout
