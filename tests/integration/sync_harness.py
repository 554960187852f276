"""A hub wired to a Kingdee emulator: pipelines written for the emulator's address, runs, and
the views of both sides a user would check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.kingdee.emulator import KingdeeEmulator
from crm_core.db import open_session
from crm_core.models import Account, Order, OrderLine, Product, Xref
from crm_core.sync.engine import RunSummary, run_pipeline
from crm_core.sync.pipeline import Direction, load_pipeline
from tests.conftest import Database

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings" / "kingdee"

PIPELINES = {
    "materials": ("material.yaml", "in"),
    "customers": ("customer.yaml", "both"),
    "orders": ("sale_order.yaml", "both"),
}


@dataclass
class Hub:
    """The CRM core, its pipelines, and the ERP emulator they talk to."""

    db: Database
    erp: KingdeeEmulator
    folder: Path

    def set_rule(
        self, pipeline: str, *, conflict: str | None = None, deletes: str | None = None
    ) -> None:
        """Rewrite a pipeline's mapping with another conflict rule or delete policy."""
        mapping_file, _ = PIPELINES[pipeline]
        path = self.folder / "mappings" / mapping_file
        text = path.read_text(encoding="utf-8")
        if conflict is not None:
            text = re.sub(r"(?m)^conflict: \S+", f"conflict: {conflict}", text)
        if deletes is not None:
            text = re.sub(r"(?m)^deletes: \S+", f"deletes: {deletes}", text)
        path.write_text(text, encoding="utf-8")

    def set_batch_size(self, pipeline: str, size: int) -> None:
        """Rewrite a pipeline file with another batch size."""
        path = self.folder / "pipelines" / f"kingdee-{pipeline}.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"(?m)^batch_size: \d+", f"batch_size: {size}", text), "utf-8")

    def set_connector(self, pipeline: str, **settings: Any) -> None:
        """Add connector settings (e.g. ``timeout``) to a pipeline file."""
        path = self.folder / "pipelines" / f"kingdee-{pipeline}.yaml"
        extra = "".join(f"  {key}: {value}\n" for key, value in settings.items())
        text = path.read_text(encoding="utf-8").replace(
            "  type: kingdee\n", "  type: kingdee\n" + extra
        )
        path.write_text(text, encoding="utf-8")

    def run(
        self,
        pipeline: str,
        direction: str | None = None,
        *,
        full: bool = False,
        dry_run: bool = False,
        batch_size: int | None = None,
        progress: Any = None,
    ) -> dict[str, RunSummary]:
        """Run a pipeline; the summaries by side (``in``/``out``)."""
        loaded = load_pipeline(self.folder / "pipelines" / f"kingdee-{pipeline}.yaml")
        if batch_size is not None:
            loaded = loaded.model_copy(update={"batch_size": batch_size})
        summaries = run_pipeline(
            self.db.engine,
            loaded,
            direction=Direction(direction) if direction else None,
            full=full,
            dry_run=dry_run,
            progress=progress,
        )
        for summary in summaries:
            assert summary.status != "failed", summary.error
        return {summary.direction: summary for summary in summaries}

    def sync_all(self) -> dict[str, dict[str, RunSummary]]:
        """Materials, customers, then orders (orders refer to both)."""
        return {name: self.run(name) for name in PIPELINES}

    def count(self, model: Any, *, live: bool = True) -> int:
        """CRM records of a model (not soft-deleted unless ``live`` is False)."""
        with open_session(self.db.engine) as session:
            query = select(func.count()).select_from(model)
            if live and hasattr(model, "deleted_at"):
                query = query.where(model.deleted_at.is_(None))
            return int(session.scalar(query) or 0)

    def account(self, number: str) -> Account | None:
        """The CRM account linked to an ERP customer number."""
        with open_session(self.db.engine) as session:
            record_id = session.scalar(
                select(Xref.record_id).where(
                    Xref.system == "kingdee",
                    Xref.external_entity == "BD_Customer",
                    Xref.external_id == number,
                )
            )
            return session.get(Account, record_id) if record_id else None

    def number_of(self, account_id: Any) -> str | None:
        """The ERP customer number linked to a CRM account."""
        with open_session(self.db.engine) as session:
            return session.scalar(
                select(Xref.external_id).where(
                    Xref.system == "kingdee",
                    Xref.external_entity == "BD_Customer",
                    Xref.record_id == account_id,
                )
            )


def writes(summary: RunSummary) -> int:
    """Records a run side created, updated or deleted."""
    counts = summary.counts
    return counts.created + counts.updated + counts.deleted


@pytest.fixture
def hub_factory(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start an emulator seeded as asked and wire the pipelines to it."""
    started: list[KingdeeEmulator] = []

    def make(**seed: int) -> Hub:
        erp = KingdeeEmulator(port=0, seed=seed).start()
        started.append(erp)
        folder = tmp_path / f"hub{len(started)}"
        (folder / "pipelines").mkdir(parents=True)
        (folder / "mappings").mkdir()
        for name, (mapping_file, direction) in PIPELINES.items():
            source = (MAPPINGS / mapping_file).read_text(encoding="utf-8")
            (folder / "mappings" / mapping_file).write_text(source, encoding="utf-8")
            (folder / "pipelines" / f"kingdee-{name}.yaml").write_text(
                "connector:\n"
                "  type: kingdee\n"
                f"  base_url: {erp.url}\n"
                f"  acct_id: {erp.credentials['acct_id']}\n"
                f"  username: {erp.credentials['username']}\n"
                "  password_env: TONGBU_TEST_KINGDEE_PASSWORD\n"
                f"mapping: ../mappings/{mapping_file}\n"
                f"direction: {direction}\n"
                "batch_size: 500\n",
                encoding="utf-8",
            )
        monkeypatch.setenv("TONGBU_TEST_KINGDEE_PASSWORD", erp.credentials["password"])
        monkeypatch.setenv("TONGBU_PIPELINES_DIR", str(folder / "pipelines"))
        return Hub(db, erp, folder)

    yield make
    for erp in started:
        erp.stop()


__all__ = ["Hub", "Order", "OrderLine", "Product", "hub_factory", "writes"]
