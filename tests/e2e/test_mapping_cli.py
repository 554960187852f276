"""``tongbu mapping check``, run as a user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli import tongbu

ROOT = Path(__file__).resolve().parents[2]


def test_check_the_shipped_mappings() -> None:
    files = sorted(str(path) for path in (ROOT / "mappings" / "kingdee").glob("*.yaml"))
    result = tongbu("mapping", "check", *files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ok: kingdee-customer (BD_Customer <-> accounts, 12 fields)",
        "ok: kingdee-material (BD_MATERIAL <-> products, 4 fields)",
        "ok: kingdee-sale-order (SAL_SaleOrder <-> orders, 8 fields; "
        "lines FSaleOrderEntry <-> order_lines, 6 fields)",
    ]


def test_check_a_broken_mapping(tmp_path: Path) -> None:
    good = ROOT / "mappings" / "kingdee" / "material.yaml"
    broken = tmp_path / "customer.yaml"
    broken.write_text(
        "system: kingdee\n"
        "external_entity: BD_Customer\n"
        "crm_entity: accounts\n"
        "key: FNumber\n"
        "conflict: newest_wins\n"
        "fields:\n"
        "  - {crm: name, external: FName}\n"
        "  - {crm: phone, external: FTEL, transforms: [phon]}\n"
        "  - {crm: nmae, external: FName2}\n",
        encoding="utf-8",
    )
    result = tongbu("mapping", "check", str(good), str(broken))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "ok: kingdee-material (BD_MATERIAL <-> products, 4 fields)"
    ]
    assert result.stderr.splitlines() == [
        f"{broken}, line 8, fields[1].transforms[0]: unknown transform 'phon' (known: strip, "
        "squash, upper, lower, halfwidth, email, phone, date, amount, credit_code)",
        f"{broken}, line 9, fields[2].crm: accounts has no field 'nmae' (did you mean 'name'?)",
    ]
    assert "Traceback" not in result.stderr


def test_check_needs_a_file() -> None:
    result = tongbu("mapping", "check")
    assert result.returncode == 2
    assert "Missing argument" in result.stderr
