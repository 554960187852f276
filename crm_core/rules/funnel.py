"""Funnel and pipeline reports: how far the opportunities of a pipeline got, and how long they
spent in each stage, for a date range, in total or per owner or team.

What the numbers mean (:func:`funnel_report`):

* **Cohort.** The opportunities of the pipeline that are not deleted and were *created* in the
  date range: ``start`` and ``end`` are calendar days in China Standard Time (Asia/Shanghai,
  :data:`REPORT_TIME_ZONE`), both included; either may be left open. With ``currency``, only
  the opportunities in that currency (see *Amounts*).
* **Stage order.** The pipeline's open stages (neither won nor lost) by position, then its won
  stages, then its lost stages, each by position. The funnel runs over the open stages and ends
  in the won stages; lost stages stand beside it.
* **Entered.** An opportunity entered a stage when its stage history has a row into it
  (``opportunity_stage_history``, written by the database on every stage change and on insert)
  or when it is in that stage now.
* **Reached** (an open stage): the opportunities that entered it *or any later open or won
  stage* -- a deal created straight into "Proposal" has passed "Qualify" too. An opportunity
  that was lost after "Proposal" reached every stage up to "Proposal". **Reached** (a won or a
  lost stage): the opportunities that entered that stage.
* **Current**: the opportunities in that stage now.
* **Conversion** (an open stage): reached of the next open stage / reached of this one; for the
  last open stage, the opportunities that reached a won stage / reached of this one. ``None``
  when nothing reached the stage. Won and lost stages have none.
* **Won** and **win rate**: the opportunities that entered a won stage; won / all the
  opportunities of the cohort (``None`` for an empty cohort).
* **Days in stage** (open stages only): one figure per *visit* of the stage in the stage history,
  from the moment the opportunity entered it to the moment it entered its next stage (the next
  history row of the opportunity, by ``entered_at``; rows with the same ``entered_at`` -- written
  in one transaction -- put the insert's row first). The visit still going on (the last history
  row, into the stage the opportunity is in now) counts up to ``now``. A last row into a stage
  the opportunity is no longer in (an incomplete history) is left out. The report gives the
  number of visits timed, their average and median, in days (fractions of a day included).
* **Amounts** are exact decimals: the sums of ``amount`` (an opportunity without one adds
  nothing) over the reached and the current opportunities. With ``currency``, the cohort is the
  opportunities in that currency. Without it, amounts are summed only when the opportunities
  with an amount are all in one currency (:attr:`FunnelReport.currency`; an amount with no
  currency is taken to be in that one); when there are several, the counts and rates cover them
  all and every amount is ``None`` (:attr:`FunnelReport.currencies` names them).
* **Groups.** ``group_by="owner"`` or ``"team"`` splits the cohort by the opportunity's own
  ``owner_id`` or ``team_id``: one :class:`FunnelGroup` per owner or team that has
  opportunities in the cohort, by name, with ``"(none)"`` for those without one (last).
  ``"none"`` gives a single group, ``"(all)"``, also for an empty cohort.

The report reads set-wise: one grouped query for the counts and amounts, one for the days in
stage (window functions over the stage history), and a distinct query for the currencies -- the
database does the work, whatever the number of opportunities.

:func:`write_csv` writes one line per group and stage; :func:`write_html_chart` a
self-contained HTML page with one SVG funnel per group; :func:`table_rows` gives the cells of
a printed table.
"""

from __future__ import annotations

import csv
import html
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Float,
    Uuid,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select, Subquery
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from crm_core.errors import InvalidInput, NotFound
from crm_core.models import (
    Opportunity,
    OpportunityStageHistory,
    Pipeline,
    Stage,
    Team,
    User,
    utcnow,
)

__all__ = [
    "ALL",
    "CSV_COLUMNS",
    "NO_GROUP",
    "REPORT_TIME_ZONE",
    "FunnelGroup",
    "FunnelReport",
    "GroupBy",
    "StageKind",
    "StageRow",
    "describe",
    "funnel_report",
    "table_rows",
    "write_csv",
    "write_html_chart",
]

REPORT_TIME_ZONE = "Asia/Shanghai"
"""The time zone of the report's dates: a day of the date range is a day in China."""

GroupBy = Literal["none", "owner", "team"]
"""How the cohort is split: not at all, by the opportunity's owner, or by its team."""

StageKind = Literal["open", "won", "lost"]

ALL = "(all)"
"""The name of the single group of an ungrouped report."""

NO_GROUP = "(none)"
"""The name of the group of the opportunities without an owner (or team)."""

CSV_COLUMNS = (
    "pipeline",
    "group_by",
    "group",
    "stage",
    "kind",
    "position",
    "reached",
    "reached_amount",
    "current",
    "current_amount",
    "conversion_to_next",
    "visits_timed",
    "avg_days_in_stage",
    "median_days_in_stage",
    "currency",
    "group_opportunities",
    "group_won",
    "group_win_rate",
)
"""The columns of :func:`write_csv`: rates as fractions (0.25), days with two decimals."""


@dataclass(frozen=True)
class StageRow:
    """One stage of a group's funnel (see the module's docstring for what each figure means)."""

    stage_id: UUID
    stage: str
    kind: StageKind
    position: int
    reached: int
    reached_amount: Decimal | None
    current: int
    current_amount: Decimal | None
    conversion: float | None
    visits_timed: int
    avg_days: float | None
    median_days: float | None


@dataclass(frozen=True)
class FunnelGroup:
    """The funnel of one owner, one team, or the whole cohort."""

    key: UUID | None
    name: str
    opportunities: int
    won: int
    stages: tuple[StageRow, ...]

    @property
    def win_rate(self) -> float | None:
        """Won / all the opportunities of the group (``None`` when it has none)."""
        return self.won / self.opportunities if self.opportunities else None


@dataclass(frozen=True)
class FunnelReport:
    """A pipeline's funnel for a date range, in one group or one per owner or team."""

    pipeline: str
    start: date | None
    end: date | None
    group_by: GroupBy
    currency: str | None
    """The currency of the amounts (``None`` when there are none, or in several currencies)."""
    currencies: tuple[str, ...]
    """The currencies of the cohort's amounts; more than one means the amounts are left out."""
    now: datetime
    groups: tuple[FunnelGroup, ...]
    time_zone: str = REPORT_TIME_ZONE

    @property
    def amounts_left_out(self) -> bool:
        """Whether the amounts are ``None`` because the cohort mixes currencies."""
        return len(self.currencies) > 1 and self.currency is None


@dataclass(frozen=True)
class _StageInfo:
    id: UUID
    name: str
    position: int
    kind: StageKind


@dataclass
class _Tally:
    """What the grouped query says about one group."""

    opportunities: int = 0
    furthest: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    furthest_amount: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    current: dict[UUID, int] = field(default_factory=lambda: defaultdict(int))
    current_amount: dict[UUID, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    entered: dict[UUID, int] = field(default_factory=lambda: defaultdict(int))
    entered_amount: dict[UUID, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    timed: dict[UUID, tuple[int, float | None, float | None]] = field(default_factory=dict)


# --------------------------------------------------------------------------- SQL helpers


class _days_between(FunctionElement[float]):  # noqa: N801 - reads as the SQL function it renders
    """``later - earlier`` in days, as a floating-point number."""

    type = Float()
    inherit_cache = True


@compiles(_days_between, "postgresql")
def _days_between_pg(element: _days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS double precision) / 86400.0)"


@compiles(_days_between, "sqlite")
def _days_between_sqlite(element: _days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


class _DecimalSum:
    """An exact sum for SQLite, which keeps money as decimal text and would sum it as floats."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total = (self.total or Decimal(0)) + Decimal(value)

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


def _money_sum(session: Session) -> Any:
    """The SQL function that sums money exactly on this session's database."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return func.sum
    pooled = connection.connection
    raw = pooled.driver_connection
    # Once per connection: SQLite refuses to replace a function while a statement is open.
    if isinstance(raw, sqlite3.Connection) and not pooled.info.get("tongbu_decimal_sum"):
        # typeshed wants integers in and out; sqlite3 takes any value it can store.
        raw.create_aggregate("tongbu_decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
        pooled.info["tongbu_decimal_sum"] = True
    return func.tongbu_decimal_sum


def _money(value: Any) -> Decimal:
    """A summed amount as a Decimal (0 for no amount at all)."""
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --------------------------------------------------------------------------- the report


def funnel_report(
    session: Session,
    *,
    pipeline: str | None = None,
    start: date | None = None,
    end: date | None = None,
    group_by: GroupBy = "none",
    currency: str | None = None,
    now: datetime | None = None,
) -> FunnelReport:
    """The funnel of ``pipeline`` (by name; default: the default pipeline) for the
    opportunities created from ``start`` to ``end`` (days in Asia/Shanghai, both included).

    Raises :class:`NotFound` for an unknown pipeline and :class:`InvalidInput` for a range that
    ends before it starts, an unknown ``group_by`` or a pipeline without stages. Reads only.
    """
    if group_by not in get_args(GroupBy):
        raise InvalidInput(
            f"cannot group a funnel by {group_by!r}: choose one of {', '.join(get_args(GroupBy))}"
        )
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"the date range ends ({end}) before it starts ({start})")
    now = now or utcnow()
    chosen = _pipeline(session, pipeline)
    stages = _stages(session, chosen)
    currency = currency.strip().upper() if currency else None

    condition = and_(Opportunity.pipeline_id == chosen.id, Opportunity.deleted_at.is_(None))
    zone = ZoneInfo(REPORT_TIME_ZONE)
    if start is not None:
        condition = and_(
            condition, Opportunity.created_at >= datetime.combine(start, time(), tzinfo=zone)
        )
    if end is not None:
        after = datetime.combine(end + timedelta(days=1), time(), tzinfo=zone)
        condition = and_(condition, Opportunity.created_at < after)
    if currency is not None:
        condition = and_(condition, Opportunity.currency == currency)

    grouped = {"owner": Opportunity.owner_id, "team": Opportunity.team_id}.get(group_by)
    group_column = grouped if grouped is not None else cast(null(), Uuid())

    def cohort() -> Subquery:
        # A new subquery at each use rather than one CTE: PostgreSQL materialises a CTE used
        # twice and cannot scan it in parallel; the opportunities are cheaper to scan again.
        return (
            select(
                Opportunity.id.label("id"),
                Opportunity.stage_id.label("stage_id"),
                Opportunity.amount.label("amount"),
                Opportunity.currency.label("currency"),
                group_column.label("grp"),
            )
            .where(condition)
            .subquery("cohort")
        )

    if currency is None:
        currencies = tuple(
            sorted(
                value
                for value in session.scalars(
                    select(Opportunity.currency)
                    .where(
                        condition,
                        Opportunity.amount.is_not(None),
                        Opportunity.currency.is_not(None),
                    )
                    .distinct()
                )
                if value is not None
            )
        )
        report_currency = currencies[0] if len(currencies) == 1 else None
    else:
        currencies, report_currency = (currency,), currency
    with_amounts = len(currencies) <= 1

    tallies: dict[UUID | None, _Tally] = defaultdict(_Tally)
    _count(session, cohort, stages, tallies)
    _time_in_stage(session, cohort, stages, now, tallies)
    if group_by == "none":
        tallies.setdefault(None, _Tally())
    names = _group_names(session, group_by, [key for key in tallies if key is not None])

    groups = [
        _group(key, names.get(key, NO_GROUP) if group_by != "none" else ALL, tally, stages)
        for key, tally in tallies.items()
    ]
    groups.sort(key=lambda group: (group.key is None, group.name.casefold(), str(group.key)))
    if not with_amounts:
        groups = [_without_amounts(group) for group in groups]
    return FunnelReport(
        pipeline=chosen.name,
        start=start,
        end=end,
        group_by=group_by,
        currency=report_currency,
        currencies=currencies,
        now=now,
        groups=tuple(groups),
    )


def _pipeline(session: Session, name: str | None) -> Pipeline:
    alive = select(Pipeline).where(Pipeline.deleted_at.is_(None))
    if name is not None:
        found = session.scalars(alive.where(Pipeline.name == name)).first()
        if found is None:
            known = ", ".join(session.scalars(select(Pipeline.name).order_by(Pipeline.name)))
            raise NotFound(f"no pipeline named {name!r} (pipelines: {known or 'none yet'})")
        return found
    default = session.scalars(
        alive.where(Pipeline.is_default.is_(True)).order_by(Pipeline.created_at, Pipeline.name)
    ).first()
    if default is not None:
        return default
    every = list(session.scalars(alive.order_by(Pipeline.name)))
    if len(every) == 1:
        return every[0]
    if not every:
        raise NotFound("there is no pipeline yet: nothing to report")
    known = ", ".join(each.name for each in every)
    raise InvalidInput(f"no pipeline is the default: choose one with --pipeline ({known})")


def _stages(session: Session, pipeline: Pipeline) -> list[_StageInfo]:
    rows = session.scalars(
        select(Stage)
        .where(Stage.pipeline_id == pipeline.id, Stage.deleted_at.is_(None))
        .order_by(Stage.position)
    ).all()
    if not rows:
        raise InvalidInput(f"the pipeline {pipeline.name!r} has no stages: nothing to report")
    infos = [
        _StageInfo(
            row.id,
            row.name,
            row.position,
            "won" if row.is_won else "lost" if row.is_lost else "open",
        )
        for row in rows
    ]
    order: dict[StageKind, int] = {"open": 0, "won": 1, "lost": 2}
    return sorted(infos, key=lambda info: (order[info.kind], info.position))


def _count(
    session: Session,
    make_cohort: Callable[[], Subquery],
    stages: Sequence[_StageInfo],
    tallies: dict[UUID | None, _Tally],
) -> None:
    """Counts and amounts: one grouped query over (group, furthest rank, current stage)."""
    history = OpportunityStageHistory
    open_count = sum(info.kind == "open" for info in stages)
    ranks = [
        (info.id, index if info.kind == "open" else open_count)
        for index, info in enumerate(stages)
        if info.kind != "lost"
    ]
    closed = [info for info in stages if info.kind != "open"]
    money_sum = _money_sum(session)

    in_history, now_in, cohort = make_cohort(), make_cohort(), make_cohort()
    entered = union_all(
        select(history.opportunity_id.label("opp"), history.to_stage_id.label("stage"))
        .join(in_history, in_history.c.id == history.opportunity_id)
        .where(history.deleted_at.is_(None), history.to_stage_id.is_not(None)),
        select(now_in.c.id, now_in.c.stage_id).where(now_in.c.stage_id.is_not(None)),
    ).subquery("entered")
    rank = case(*((entered.c.stage == stage_id, value) for stage_id, value in ranks), else_=None)
    per_opportunity = (
        select(
            entered.c.opp,
            func.max(rank).label("furthest"),
            *(
                func.max(case((entered.c.stage == info.id, 1), else_=0)).label(f"in_{index}")
                for index, info in enumerate(closed)
            ),
        )
        .group_by(entered.c.opp)
        .subquery("per_opportunity")
    )
    amount_type = Opportunity.amount.type
    statement = (
        select(
            cohort.c.grp,
            per_opportunity.c.furthest,
            cohort.c.stage_id,
            func.count(),
            type_coerce(money_sum(cohort.c.amount), amount_type),
            *(
                column
                for index in range(len(closed))
                for column in (
                    func.sum(per_opportunity.c[f"in_{index}"]),
                    type_coerce(
                        money_sum(case((per_opportunity.c[f"in_{index}"] == 1, cohort.c.amount))),
                        amount_type,
                    ),
                )
            ),
        )
        .select_from(cohort.outerjoin(per_opportunity, per_opportunity.c.opp == cohort.c.id))
        .group_by(cohort.c.grp, per_opportunity.c.furthest, cohort.c.stage_id)
    )
    for grp, furthest, stage_id, count, amount, *entered_closed in session.execute(statement):
        tally = tallies[grp]
        tally.opportunities += count
        if stage_id is not None:
            tally.current[stage_id] += count
            tally.current_amount[stage_id] += _money(amount)
        if furthest is not None:
            tally.furthest[furthest] += count
            tally.furthest_amount[furthest] += _money(amount)
        for index, info in enumerate(closed):
            tally.entered[info.id] += entered_closed[2 * index] or 0
            tally.entered_amount[info.id] += _money(entered_closed[2 * index + 1])


def _time_in_stage(
    session: Session,
    make_cohort: Callable[[], Subquery],
    stages: Sequence[_StageInfo],
    now: datetime,
    tallies: dict[UUID | None, _Tally],
) -> None:
    """Visits of the open stages: their number, average and median days, per group and stage."""
    history = OpportunityStageHistory
    open_ids = [info.id for info in stages if info.kind == "open"]
    if not open_ids:
        return
    cohort = make_cohort()
    insert_first = case((history.from_stage_id.is_(None), 0), else_=1)
    visits = (
        select(
            cohort.c.grp,
            cohort.c.stage_id.label("current"),
            history.to_stage_id.label("stage"),
            history.entered_at,
            func.lead(history.entered_at)
            .over(
                partition_by=history.opportunity_id,
                order_by=(history.entered_at, insert_first),
            )
            .label("left_at"),
        )
        .join(cohort, cohort.c.id == history.opportunity_id)
        .where(history.deleted_at.is_(None))
        .subquery("visits")
    )
    until = func.coalesce(visits.c.left_at, literal(now, history.entered_at.type))
    timed = (
        select(
            visits.c.grp,
            visits.c.stage,
            _days_between(until, visits.c.entered_at).label("days"),
        )
        .where(
            visits.c.stage.in_(open_ids),
            or_(visits.c.left_at.is_not(None), visits.c.stage == visits.c.current),
        )
        .subquery("timed")
    )
    if session.connection().dialect.name == "postgresql":
        statement = select(
            timed.c.grp,
            timed.c.stage,
            func.count(),
            func.avg(timed.c.days),
            func.percentile_cont(0.5).within_group(timed.c.days),
        ).group_by(timed.c.grp, timed.c.stage)
    else:
        statement = _median_by_window(timed)
    for grp, stage_id, count, average, median in session.execute(statement):
        tallies[grp].timed[stage_id] = (
            count,
            None if average is None else float(average),
            None if median is None else float(median),
        )


def _median_by_window(timed: Subquery) -> Select[Any]:
    """Count, average and median days per group and stage where there is no ``percentile_cont``
    (SQLite): the middle row, or the two middle rows, of each partition ordered by days."""
    partition = (timed.c.grp, timed.c.stage)
    ranked = select(
        timed.c.grp,
        timed.c.stage,
        timed.c.days,
        func.row_number().over(partition_by=partition, order_by=timed.c.days).label("rn"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery("ranked")
    middle = and_(2 * ranked.c.rn >= ranked.c.n, 2 * ranked.c.rn <= ranked.c.n + 2)
    return select(
        ranked.c.grp,
        ranked.c.stage,
        func.count(),
        func.avg(ranked.c.days),
        func.avg(case((middle, ranked.c.days))),
    ).group_by(ranked.c.grp, ranked.c.stage)


def _group_names(session: Session, group_by: GroupBy, keys: list[UUID]) -> dict[UUID | None, str]:
    if group_by == "none" or not keys:
        return {}
    model: type[User] | type[Team] = User if group_by == "owner" else Team
    rows = session.execute(select(model.id, model.name).where(model.id.in_(keys)))
    return {row.id: row.name for row in rows}


def _group(key: UUID | None, name: str, tally: _Tally, stages: Sequence[_StageInfo]) -> FunnelGroup:
    open_stages = [info for info in stages if info.kind == "open"]
    open_count = len(open_stages)
    won = sum(count for rank, count in tally.furthest.items() if rank >= open_count)

    def reached_from(rank: int) -> tuple[int, Decimal]:
        count = sum(value for each, value in tally.furthest.items() if each >= rank)
        amount = sum(
            (value for each, value in tally.furthest_amount.items() if each >= rank), Decimal(0)
        )
        return count, amount

    rows: list[StageRow] = []
    for index, info in enumerate(stages):
        if info.kind == "open":
            reached, reached_amount = reached_from(index)
            following = reached_from(index + 1)[0]
            conversion = following / reached if reached else None
        else:
            reached, reached_amount = tally.entered[info.id], tally.entered_amount[info.id]
            conversion = None
        visits, average, median = tally.timed.get(info.id, (0, None, None))
        rows.append(
            StageRow(
                stage_id=info.id,
                stage=info.name,
                kind=info.kind,
                position=info.position,
                reached=reached,
                reached_amount=reached_amount,
                current=tally.current[info.id],
                current_amount=tally.current_amount[info.id],
                conversion=conversion,
                visits_timed=visits,
                avg_days=average,
                median_days=median,
            )
        )
    return FunnelGroup(key, name, tally.opportunities, won, tuple(rows))


def _without_amounts(group: FunnelGroup) -> FunnelGroup:
    stages = tuple(replace(row, reached_amount=None, current_amount=None) for row in group.stages)
    return replace(group, stages=stages)


# --------------------------------------------------------------------------- output


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.1%}"


def _days(days: float | None) -> str:
    return "" if days is None else f"{days:.1f}"


def _amount(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


def table_rows(report: FunnelReport) -> list[tuple[str, ...]]:
    """The cells of the printed table: group, stage, reached, reached amount, current, current
    amount, conversion to the next stage, visits timed, average and median days in stage."""
    rows: list[tuple[str, ...]] = []
    for group in report.groups:
        for row in group.stages:
            stage = row.stage if row.kind == "open" else f"{row.stage} ({row.kind})"
            rows.append(
                (
                    group.name,
                    stage,
                    str(row.reached),
                    _amount(row.reached_amount),
                    str(row.current),
                    _amount(row.current_amount),
                    _percent(row.conversion),
                    str(row.visits_timed) if row.kind == "open" else "",
                    _days(row.avg_days),
                    _days(row.median_days),
                )
            )
    return rows


def write_csv(report: FunnelReport, path: Path | str) -> Path:
    """Write the report as CSV (UTF-8, :data:`CSV_COLUMNS`): one line per group and stage."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for group in report.groups:
            for row in group.stages:
                writer.writerow(
                    [
                        report.pipeline,
                        report.group_by,
                        group.name,
                        row.stage,
                        row.kind,
                        row.position,
                        row.reached,
                        "" if row.reached_amount is None else row.reached_amount,
                        row.current,
                        "" if row.current_amount is None else row.current_amount,
                        "" if row.conversion is None else f"{row.conversion:.4f}",
                        row.visits_timed,
                        "" if row.avg_days is None else f"{row.avg_days:.2f}",
                        "" if row.median_days is None else f"{row.median_days:.2f}",
                        report.currency or "",
                        group.opportunities,
                        group.won,
                        "" if group.win_rate is None else f"{group.win_rate:.4f}",
                    ]
                )
    return path


def describe(report: FunnelReport) -> str:
    """One line saying what the report covers."""
    if report.start and report.end:
        span = f"created {report.start} to {report.end}"
    elif report.start:
        span = f"created from {report.start}"
    elif report.end:
        span = f"created up to {report.end}"
    else:
        span = "all dates"
    money = report.currency or ("mixed currencies" if report.amounts_left_out else "no amounts")
    return f"Funnel of {report.pipeline}: {span} ({report.time_zone}), {money}"


_BAR_HEIGHT = 28
_BAR_GAP = 6
_CHART_WIDTH = 720
_LABEL_WIDTH = 200


def _svg_funnel(group: FunnelGroup, currency: str | None) -> str:
    rows = group.stages
    top = max((row.reached for row in rows), default=0) or 1
    room = _CHART_WIDTH - _LABEL_WIDTH
    height = len(rows) * (_BAR_HEIGHT + _BAR_GAP) + _BAR_GAP
    colours = {"open": "#3b82f6", "won": "#16a34a", "lost": "#dc2626"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_CHART_WIDTH} {height}" role="img" '
        f'aria-label="funnel of {html.escape(group.name, quote=True)}">'
    ]
    for index, row in enumerate(rows):
        y = _BAR_GAP + index * (_BAR_HEIGHT + _BAR_GAP)
        width = max(room * row.reached / top, 1.0 if row.reached else 0.0)
        x = _LABEL_WIDTH + (room - width) / 2
        label = f"{row.reached}"
        if row.reached_amount is not None and currency:
            label += f" · {row.reached_amount:,.0f} {currency}"
        if row.conversion is not None:
            label += f" · {row.conversion:.0%} →"
        parts.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + _BAR_HEIGHT * 0.68:.1f}" '
            f'text-anchor="end">{html.escape(row.stage)}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{_BAR_HEIGHT}" '
            f'fill="{colours[row.kind]}" rx="3"><title>{html.escape(row.stage)}: '
            f"{html.escape(label)}</title></rect>"
            f'<text x="{_LABEL_WIDTH + room / 2:.1f}" y="{y + _BAR_HEIGHT * 0.68:.1f}" '
            f'text-anchor="middle" class="value">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def write_html_chart(report: FunnelReport, path: Path | str) -> Path:
    """Write the report as a self-contained HTML page: one SVG bar funnel per group (bars as
    wide as the stage's reached count; won stages green, lost red), with the win rate."""
    path = Path(path)
    title = html.escape(describe(report))
    sections = []
    for group in report.groups:
        heading = html.escape(group.name)
        summary = (
            f"{group.opportunities} opportunities, {group.won} won"
            f"{f' (win rate {_percent(group.win_rate)})' if group.win_rate is not None else ''}"
        )
        sections.append(
            f"<section><h2>{heading}</h2><p>{html.escape(summary)}</p>"
            f"{_svg_funnel(group, report.currency)}</section>"
        )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>"
        "body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:2em}"
        "svg text{font-size:13px;fill:#111}"
        "svg text.value{font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}"
        "section{margin-bottom:2em}"
        f"</style></head><body><h1>{title}</h1>{''.join(sections)}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path
