"""Dedup inside the CRM core: find the duplicate accounts or contacts, plan their merges, and
carry them out.

The live records (not deleted, not merged away) are read in one pass and go through the same
engine as ``tongbu dedup csv``; un-merges people made are cannot-link constraints. Each cluster
becomes a merge plan (:func:`~crm_core.dedup.plan_merge`: survivor, field values, links); a
cluster the merge rules refuse (a branch and its head office, two credit codes) or the engine
held back goes to the review list instead. Applying runs each merge in its own transaction,
so one stale or refused cluster does not hold back the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm_core._values import among
from crm_core.db import open_session
from crm_core.dedup._entities import EntitySpec, _regions_differ
from crm_core.dedup._merge import (
    MergeConflict,
    MergePlan,
    MergeRefused,
    apply_merge,
    cannot_links,
    entity_table,
    plan_merge,
)
from crm_core.dedup._model import probability
from crm_core.dedup._run import DEFAULT_THRESHOLD, DedupResult, Progress, dedup_records
from crm_core.errors import TongbuError
from crm_core.models import MergeHistory, table_of
from crm_core.models._sales import Account, AccountContact, Contact
from crm_core.records import update

__all__ = [
    "CoreDedup",
    "HeldBack",
    "apply_core_dedup",
    "contact_names",
    "live_records",
    "plan_core_dedup",
]


@dataclass(frozen=True)
class HeldBack:
    """Records that look like one customer but are not merged, and why."""

    record_ids: tuple[UUID, ...]
    reason: str


@dataclass
class CoreDedup:
    """The merges a dedup run of the core proposes, and what it held back."""

    entity: str
    records: int
    plans: list[tuple[MergePlan, float]] = field(default_factory=list)
    """Each merge with the weakest match probability inside its cluster."""
    held_back: list[HeldBack] = field(default_factory=list)
    branches: list[tuple[UUID, UUID]] = field(default_factory=list)
    """(branch, head office) pairs to link: a branch is never merged into its head office."""
    result: DedupResult | None = None


def plan_core_dedup(
    engine: Engine,
    spec: EntitySpec,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Progress | None = None,
) -> CoreDedup:
    """Find the duplicates among the live records of ``spec``'s entity; write nothing."""
    table = entity_table(spec.name)
    with open_session(engine) as session:
        ids, values = live_records(session, spec)
        apart = [(str(a), str(b)) for a, b in cannot_links(session, table.name)]
        outcome = CoreDedup(entity=table.name, records=len(ids))
        if len(ids) < 2:
            return outcome
        result = dedup_records(
            spec,
            [str(record_id) for record_id in ids],
            spec.columns,
            values,
            threshold=threshold,
            cannot_link=apart,
            progress=progress,
        )
        outcome.result = result
        for review in result.reviews:
            outcome.held_back.append(
                HeldBack(tuple(ids[row] for row in review.rows), review.reason)
            )
        if spec.name == "account":
            found = _branches_of(result, _with_parent(session))
            outcome.branches = [(ids[branch], ids[head]) for branch, head in found]
        weakest = _weakest_match(result)
        for group in _groups(result):
            members = [ids[row] for row in group]
            try:
                plan = plan_merge(session, table.name, members)
            except MergeRefused as refused:
                outcome.held_back.append(HeldBack(tuple(members), str(refused)))
                continue
            outcome.plans.append((plan, weakest.get(result.cluster_ids[group[0]], 1.0)))
    return outcome


def apply_core_dedup(
    engine: Engine, planned: CoreDedup, *, actor_id: UUID | None = None
) -> tuple[list[MergeHistory], list[HeldBack]]:
    """Link the branches to their head offices, then carry out the planned merges, each in its
    own transaction; return the merges made and the ones that could not be (a record changed
    since planning, or a rule refused)."""
    done: list[MergeHistory] = []
    failed: list[HeldBack] = []
    if planned.branches:
        with open_session(engine, origin="crm", actor_id=actor_id) as session:
            for branch, head in planned.branches:
                record = session.get(Account, branch)
                if record is not None and record.parent_id is None:
                    update(
                        session,
                        Account,
                        branch,
                        {"parent_id": head},
                        expected_version=record.version,
                        actor_id=actor_id,
                    )
    for plan, chance in planned.plans:
        reason = {"by": "dedup", "probability": round(chance, 4)}
        try:
            with open_session(engine, origin="crm", actor_id=actor_id) as session:
                history = apply_merge(session, plan, reason=reason, actor_id=actor_id)
                session.flush()
                session.expunge(history)
            done.append(history)
        except (MergeConflict, MergeRefused, TongbuError) as error:
            failed.append(HeldBack(plan.record_ids, str(error)))
    return done, failed


def live_records(
    session: Session, spec: EntitySpec, ids: Sequence[UUID] | None = None
) -> tuple[list[UUID], list[tuple[str | None, ...]]]:
    """The ids and cells (in ``spec.columns`` order) of the records not deleted or merged
    (all of them, or those of ``ids``)."""
    table = entity_table(spec.name)
    columns = [table.c[name] for name in spec.columns if name in table.c]
    query = (
        select(table.c.id, *columns)
        .where(table.c.deleted_at.is_(None), table.c.merged_into_id.is_(None))
        .order_by(table.c.id)
    )
    if ids is not None:
        query = query.where(among(session, table.c.id, list(ids)))
    names = [column.name for column in columns]
    contacts = contact_names(session, ids) if "contact_name" in spec.columns else {}
    found: list[UUID] = []
    values: list[tuple[str | None, ...]] = []
    for row in session.execute(query):
        cells = dict(zip(names, row[1:], strict=True))
        found.append(row[0])
        values.append(
            tuple(
                contacts.get(row[0]) if name == "contact_name" else _text(cells.get(name))
                for name in spec.columns
            )
        )
    return found, values


def contact_names(session: Session, ids: Sequence[UUID] | None) -> dict[UUID, str]:
    """One contact's name per account (the earliest linked), as ``contact_name``."""
    links = table_of(AccountContact)
    people = table_of(Contact)
    query = (
        select(links.c.account_id, people.c.last_name, people.c.first_name)
        .join(people, people.c.id == links.c.contact_id)
        .where(links.c.deleted_at.is_(None), people.c.deleted_at.is_(None))
        .order_by(links.c.account_id, links.c.created_at)
    )
    if ids is not None:
        query = query.where(among(session, links.c.account_id, list(ids)))
    names: dict[UUID, str] = {}
    for account_id, last, first in session.execute(query):
        if account_id not in names and (last or first):
            names[account_id] = _person(last, first)
    return names


def _person(last: str | None, first: str | None) -> str:
    if last and first and last.isascii() and first.isascii():
        return f"{first} {last}"
    return f"{last or ''}{first or ''}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _with_parent(session: Session) -> set[UUID]:
    """The accounts that already have a parent (a head office)."""
    table = entity_table("account")
    return set(session.scalars(select(table.c.id).where(table.c.parent_id.is_not(None))))


def _branches_of(result: DedupResult, has_parent: set[UUID]) -> list[tuple[int, int]]:
    """(branch row, head office row) for each branch whose head office is among the records:
    the same name but the branch part, the same region, and one head office only."""
    table = result.table
    if "branch" not in table.columns or result.spec.name != "account":
        return []
    pairs, levels = result.pairs, result.levels
    branch = table.codes("branch")
    a, b = branch[pairs.left], branch[pairs.right]
    one_branch = (a >= 0) != (b >= 0)
    column = result.spec.comparison_index("name")
    labels = result.spec.comparisons[column].labels
    same_name = levels[:, column] >= labels.index("same name but the legal form or region")
    candidates = one_branch & same_name
    if not candidates.any():
        return []
    where = np.flatnonzero(candidates)
    apart = _regions_differ(table, pairs.take(candidates), levels[where])
    heads: dict[int, set[int]] = {}
    for index, differ in zip(where.tolist(), apart.tolist(), strict=True):
        if differ:
            continue
        left, right = int(pairs.left[index]), int(pairs.right[index])
        child, head = (left, right) if branch[left] >= 0 else (right, left)
        heads.setdefault(child, set()).add(head)
    return sorted(
        (child, next(iter(found)))
        for child, found in heads.items()
        if len(found) == 1 and UUID(result.ids[child]) not in has_parent
    )


def _groups(result: DedupResult) -> list[list[int]]:
    members: dict[str, list[int]] = {}
    for row, cluster_id in enumerate(result.cluster_ids):
        members.setdefault(cluster_id, []).append(row)
    return [rows for rows in members.values() if len(rows) > 1]


def _weakest_match(result: DedupResult) -> dict[str, float]:
    """Per cluster, the lowest match probability among its matched pairs."""
    weakest: dict[str, float] = {}
    cluster_ids = result.cluster_ids
    for left, right, score in zip(
        result.pairs.left.tolist(), result.pairs.right.tolist(), result.scores.tolist(), strict=True
    ):
        cluster_id = cluster_ids[left]
        if cluster_id != cluster_ids[right] or score == float("-inf"):
            continue
        chance = probability(score)
        if chance >= result.threshold:
            weakest[cluster_id] = min(weakest.get(cluster_id, 1.0), chance)
    return weakest


def merged_titles(plan: MergePlan) -> Sequence[str]:
    """The survivor's title, then the losers'."""
    return [plan.titles[record_id] for record_id in plan.record_ids]
