"""The reconciliation report of a migration: every source row counted once, as created, updated,
merged into another row or quarantined; the checksum of the key fields as read and as loaded;
the most common reasons for quarantine. Saved as JSON and as a readable HTML page."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_core.errors import TongbuError

__all__ = [
    "COUNTED",
    "Counts",
    "MigrationReport",
    "QuarantineReason",
    "ReconciliationError",
]

COUNTED = ("created", "updated", "merged", "quarantined")
"""Where every row read ends up: the four add up to ``read``."""
_MASK = (1 << 64) - 1
_EXAMPLES = 3
_TOP = 10


class ReconciliationError(TongbuError):
    """The numbers of a migration do not add up: something was lost or counted twice. The
    report is attached, to be saved and read."""

    def __init__(self, message: str, report: MigrationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Counts:
    """What became of the rows of one source."""

    read: int = 0
    created: int = 0
    """Rows that became a new CRM record."""
    updated: int = 0
    """Rows whose key was already linked to a CRM record (by an earlier migration): the record
    took the row's values (``unchanged`` of them had nothing new)."""
    unchanged: int = 0
    merged: int = 0
    """Rows that are the same customer as another row, or as a record already in the core,
    and were merged into it (each merge in ``merge_history``, undoable)."""
    quarantined: int = 0

    def add(self, other: Counts) -> None:
        """Add another source's counts."""
        for name in ("read", "unchanged", *COUNTED):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def accounted(self) -> int:
        """The rows counted somewhere."""
        return self.created + self.updated + self.merged + self.quarantined

    def to_json(self) -> dict[str, int]:
        """The counts as a JSON object."""
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged": self.merged,
            "quarantined": self.quarantined,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Counts:
        """Counts saved by :meth:`to_json`."""
        return cls(**{name: int(data.get(name, 0)) for name in cls().to_json()})


@dataclass
class QuarantineReason:
    """One kind of reason for quarantine, how many rows it sent there, and a few of them."""

    reason: str
    count: int = 0
    examples: list[dict[str, str | None]] = field(default_factory=list)
    """Up to three rows: ``position``, ``key`` and the exact ``reason``."""

    def add(self, position: str, key: str | None, reason: str) -> None:
        """Count one more row."""
        self.count += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append({"position": position, "key": key, "reason": reason})


@dataclass
class Checksum:
    """An order-free checksum of rows: the sum of 64-bit digests, and how many rows."""

    total: int = 0
    rows: int = 0

    def add(self, digest: int) -> None:
        """Add one row's digest."""
        self.total = (self.total + digest) & _MASK
        self.rows += 1

    def text(self) -> str:
        """The checksum as 16 hexadecimal digits."""
        return f"{self.total:016x}"

    def to_json(self) -> dict[str, Any]:
        """The checksum as a JSON object."""
        return {"sum": self.text(), "rows": self.rows}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Checksum:
        """A checksum saved by :meth:`to_json`."""
        if not data:
            return cls()
        return cls(int(str(data["sum"]), 16), int(data["rows"]))


@dataclass
class MigrationReport:
    """The reconciliation of one migration run."""

    run_id: str | None
    source: str
    mapping: str
    entity: str
    dry_run: bool
    dedup: bool
    sources: dict[str, Counts] = field(default_factory=dict)
    reasons: dict[str, QuarantineReason] = field(default_factory=dict)
    checksum_fields: tuple[str, ...] = ()
    source_checksum: Checksum = field(default_factory=Checksum)
    """Over the key fields of the rows as the run meant to write them."""
    loaded_checksum: Checksum = field(default_factory=Checksum)
    """Over the same fields read back from the database after writing."""
    seconds: float = 0.0
    resumed: bool = False

    def counts_of(self, source: str) -> Counts:
        """The counts of one source, started at zero."""
        counts = self.sources.get(source)
        if counts is None:
            counts = self.sources[source] = Counts()
        return counts

    @property
    def total(self) -> Counts:
        """The counts of every source together."""
        total = Counts()
        for counts in self.sources.values():
            total.add(counts)
        return total

    def quarantine(self, kind: str, position: str, key: str | None, reason: str) -> None:
        """Count a quarantined row under its kind of reason."""
        entry = self.reasons.get(kind)
        if entry is None:
            entry = self.reasons[kind] = QuarantineReason(kind)
        entry.add(position, key, reason)

    def top_reasons(self) -> list[QuarantineReason]:
        """The ten most common reasons, most common first."""
        ranked = sorted(self.reasons.values(), key=lambda entry: (-entry.count, entry.reason))
        return ranked[:_TOP]

    def problems(self) -> list[str]:
        """Why the numbers do not add up (none: they do)."""
        found = []
        for name, counts in self.sources.items():
            if counts.accounted != counts.read:
                found.append(
                    f"{name}: {counts.read:,} rows read but {counts.accounted:,} accounted for "
                    f"(created {counts.created:,} + updated {counts.updated:,} + merged "
                    f"{counts.merged:,} + quarantined {counts.quarantined:,})"
                )
        quarantined = self.total.quarantined
        listed = sum(entry.count for entry in self.reasons.values())
        if listed != quarantined:
            found.append(f"{quarantined:,} rows quarantined but {listed:,} reasons recorded")
        if not self.dry_run and self.source_checksum.to_json() != self.loaded_checksum.to_json():
            found.append(
                f"the checksum of the key fields of the {self.source_checksum.rows:,} rows "
                f"written is {self.source_checksum.text()}, but the {self.loaded_checksum.rows:,} "
                f"rows read back give {self.loaded_checksum.text()}"
            )
        return found

    def check(self) -> None:
        """Raise :class:`ReconciliationError` when the numbers do not add up."""
        found = self.problems()
        if found:
            raise ReconciliationError(
                "the migration does not reconcile: " + "; ".join(found) + ". Nothing is "
                "deleted; the report lists the counts, and `tongbu quarantine list` the rows.",
                self,
            )

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object; the totals are top-level integer keys."""
        total = self.total
        rate = total.read / self.seconds if self.seconds > 0 else None
        return {
            **total.to_json(),
            "ok": not self.problems(),
            "run_id": self.run_id,
            "source": self.source,
            "mapping": self.mapping,
            "entity": self.entity,
            "dry_run": self.dry_run,
            "dedup": self.dedup,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(rate) if rate is not None else None,
            "sources": [
                {"source": name, "entity": self.entity, **counts.to_json()}
                for name, counts in self.sources.items()
            ],
            "checksum": {
                "fields": list(self.checksum_fields),
                "source": self.source_checksum.to_json(),
                "loaded": None if self.dry_run else self.loaded_checksum.to_json(),
                "match": None
                if self.dry_run
                else self.source_checksum.to_json() == self.loaded_checksum.to_json(),
            },
            "quarantine_reasons": [
                {"reason": entry.reason, "count": entry.count, "examples": entry.examples}
                for entry in self.top_reasons()
            ],
            "problems": self.problems(),
        }

    def save(self, path: Path) -> tuple[Path, Path]:
        """Write the JSON report to ``path`` and the HTML page next to it (``.html``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n", "utf-8")
        page = path.with_suffix(".html")
        page.write_text(self.to_html(), "utf-8")
        return path, page

    def to_html(self) -> str:
        """The report as a self-contained HTML page."""
        data = self.to_json()
        verdict = "reconciled" if data["ok"] else "does NOT reconcile"
        title = f"Migration {self.run_id or '(dry run)'}: {verdict}"
        count_rows = "".join(
            f"<tr><td>{_e(source['source'])}</td><td>{_e(source['entity'])}</td>"
            + "".join(
                f"<td class=n>{source[name]:,}</td>"
                for name in ("read", "created", "updated", "merged", "quarantined")
            )
            + "</tr>"
            for source in data["sources"]
        )
        reason_rows = "".join(
            f"<tr><td>{_e(entry['reason'])}</td><td class=n>{entry['count']:,}</td><td>"
            + "<br>".join(
                f"{_e(example['position'])} ({_e(example['key'] or 'no key')}): "
                f"{_e(example['reason'])}"
                for example in entry["examples"]
            )
            + "</td></tr>"
            for entry in data["quarantine_reasons"]
        )
        checksum = data["checksum"]
        loaded = checksum["loaded"]
        problems = "".join(f"<li>{_e(problem)}</li>" for problem in data["problems"])
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.ok {{ color: #17692c; }} .bad {{ color: #a4161a; }}
</style></head><body>
<h1 class="{"ok" if data["ok"] else "bad"}">{_e(title)}</h1>
<p>Source <b>{_e(self.source)}</b>, mapping <b>{_e(self.mapping)}</b>, into
<b>{_e(self.entity)}</b>{" (dry run: nothing written)" if self.dry_run else ""};
dedup {"on" if self.dedup else "off"}; {data["seconds"]:,} s
({data["rows_per_second"] or 0:,} rows/s).</p>
{f"<ul class=bad>{problems}</ul>" if problems else ""}
<h2>Rows</h2>
<table><tr><th>Source</th><th>Entity</th><th>Read</th><th>Created</th><th>Updated</th>
<th>Merged</th><th>Quarantined</th></tr>{count_rows}
<tr><th colspan=2>Total</th>{
            "".join(
                f"<th class=n>{data[name]:,}</th>"
                for name in ("read", "created", "updated", "merged", "quarantined")
            )
        }</tr></table>
<p>Read = created + updated + merged + quarantined. {data["unchanged"]:,} of the updated rows
changed nothing.</p>
<h2>Checksum of the key fields ({_e(", ".join(checksum["fields"]))})</h2>
<table><tr><th></th><th>Sum</th><th>Rows</th></tr>
<tr><td>Source rows, as written</td><td>{checksum["source"]["sum"]}</td>
<td class=n>{checksum["source"]["rows"]:,}</td></tr>
<tr><td>Loaded rows, read back</td><td>{loaded["sum"] if loaded else "-"}</td>
<td class=n>{f"{loaded['rows']:,}" if loaded else "-"}</td></tr></table>
<h2>Quarantine: the most common reasons</h2>
{
            f"<table><tr><th>Reason</th><th>Rows</th><th>Examples</th></tr>{reason_rows}</table>"
            if reason_rows
            else "<p>No row was quarantined.</p>"
        }
<p>See every quarantined row with <code>tongbu quarantine list</code>.</p>
</body></html>
"""


def _e(value: object) -> str:
    return html.escape(str(value))
