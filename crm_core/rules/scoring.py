"""Lead scoring: points from a lead's field values and from its recent activities.

The scoring model is data: a YAML file (the shipped one is ``scoring.yaml`` next to this module)
validated by pydantic. ``fields`` give points for the values of a lead's fields (compared without
regard to case or surrounding spaces, with an optional ``default`` for any other non-empty
value); ``activities`` give points per activity of a type linked to the lead, optionally capped
(``max``) and counted only within the last ``within_days`` before ``now``; ``bands`` name score
ranges (the band is the one with the highest threshold the score reaches).

A score is explainable: :class:`LeadScore` carries one :class:`ScoreLine` per rule, and the
lines' points add up to the total.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from crm_core import records
from crm_core.db import ORIGIN_CRM, open_session
from crm_core.models import Activity, ActivityType, Lead, LeadStatus
from crm_core.rules._yaml import load_yaml_model

__all__ = [
    "DEFAULT_MODEL_PATH",
    "OPEN_STATUSES",
    "ActivityRule",
    "FieldRule",
    "LeadScore",
    "ScoreLine",
    "ScoringModel",
    "ValueRule",
    "default_model",
    "load_model",
    "rescore",
    "rescore_leads",
    "score",
    "score_lead",
    "score_leads",
]

DEFAULT_MODEL_PATH = Path(__file__).with_name("scoring.yaml")
"""The scoring model shipped with Tongbu."""

OPEN_STATUSES = frozenset({LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED})
"""Statuses of a lead that is still being worked (converted and disqualified ones are not)."""

LeadField = Literal[
    "industry", "company_size", "source", "city", "province", "country", "title", "status"
]
"""The lead fields a scoring rule may look at."""

_LEADS = Lead.__tablename__


def _key(value: str) -> str:
    """How values are compared: case-insensitively, ignoring surrounding and repeated spaces."""
    return " ".join(value.split()).casefold()


class ValueRule(BaseModel):
    """Points for one value, or for any of a list of values, of a field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: Annotated[list[str], Field(min_length=1)]
    points: int

    @model_validator(mode="before")
    @classmethod
    def _one_value(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("match"), str):
            return {**data, "match": [data["match"]]}
        return data


class FieldRule(BaseModel):
    """Points for the values of one lead field.

    ``values`` is either a mapping of value to points or a list of ``{match, points}`` where
    ``match`` is one value or a list of values sharing the points.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: list[ValueRule]
    default: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _values_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("values"), dict):
            listed = [{"match": str(value), "points": pts} for value, pts in data["values"].items()]
            return {**data, "values": listed}
        return data

    @model_validator(mode="after")
    def _each_value_once(self) -> FieldRule:
        seen: set[str] = set()
        for rule in self.values:
            for value in rule.match:
                if not value.strip():
                    raise ValueError("a value to match may not be empty")
                if _key(value) in seen:
                    raise ValueError(f"the value {value!r} is given points more than once")
                seen.add(_key(value))
        return self

    def points_for(self, value: str | None) -> tuple[int, str]:
        """The points of ``value`` and what matched (``""`` when nothing did)."""
        if value is None or not value.strip():
            return 0, ""
        wanted = _key(value)
        for rule in self.values:
            if any(_key(candidate) == wanted for candidate in rule.match):
                return rule.points, value
        if self.default is not None:
            return self.default, f"{value} (default)"
        return 0, f"{value} (no rule)"


class ActivityRule(BaseModel):
    """Points per activity of one type, optionally capped and limited to a recent window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points: int
    max: int | None = None
    within_days: Annotated[int, Field(gt=0)] | None = None

    def points_for(self, count: int) -> tuple[int, bool]:
        """The points of ``count`` activities, and whether the cap cut them."""
        raw = self.points * count
        if self.max is not None and raw > self.max:
            return self.max, True
        return raw, False


class ScoringModel(BaseModel):
    """A lead scoring model: field rules, activity rules and score bands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[LeadField, FieldRule] = {}
    activities: dict[ActivityType, ActivityRule] = {}
    bands: dict[str, int] = {}

    def band(self, total: int) -> str | None:
        """The band of the highest threshold ``total`` reaches (``None`` below every band)."""
        reached = [(floor, name) for name, floor in self.bands.items() if total >= floor]
        return max(reached)[1] if reached else None


@dataclass(frozen=True)
class ScoreLine:
    """One rule's contribution: the rule, what it matched (a value or a count), its points."""

    rule: str
    matched: str | int
    points: int
    note: str = ""


@dataclass(frozen=True)
class LeadScore:
    """The score of one lead, its band, and the lines that explain it."""

    lead_id: UUID
    label: str
    total: int
    band: str | None
    lines: tuple[ScoreLine, ...]
    previous: int | None = None
    version: int = 0

    @property
    def changed(self) -> bool:
        """Whether the score differs from the one stored on the lead."""
        return self.previous != self.total


def load_model(path: Path | str | None = None) -> ScoringModel:
    """Read a scoring model from a YAML file (default: the shipped one).

    Raises :class:`ConfigError` naming the file and the offending field when it is not valid.
    """
    path = Path(path) if path is not None else DEFAULT_MODEL_PATH
    return load_yaml_model(
        path,
        ScoringModel,
        what="the scoring model",
        holds="fields, activities, bands",
        missing=f"cannot read the scoring model {path}: no such file",
    )


def default_model() -> ScoringModel:
    """The scoring model shipped with Tongbu."""
    return load_model(DEFAULT_MODEL_PATH)


def score(
    values: Mapping[str, str | None],
    activity_counts: Mapping[ActivityType, int],
    model: ScoringModel,
) -> tuple[int, tuple[ScoreLine, ...]]:
    """The total and the explanation for a lead's field ``values`` and its counted activities.

    ``activity_counts`` are already limited to each rule's window. Pure: no database.
    """
    lines: list[ScoreLine] = []
    for name, field_rule in model.fields.items():
        points, matched = field_rule.points_for(values.get(name))
        lines.append(ScoreLine(name, matched, points))
    for kind, activity_rule in model.activities.items():
        count = activity_counts.get(kind, 0)
        points, capped = activity_rule.points_for(count)
        notes = []
        if activity_rule.within_days is not None:
            notes.append(f"last {activity_rule.within_days} days")
        if capped:
            notes.append(f"capped at {activity_rule.max}")
        lines.append(ScoreLine(f"activity {kind.value}", count, points, ", ".join(notes)))
    return sum(line.points for line in lines), tuple(lines)


def _activity_counts(
    session: Session, model: ScoringModel, now: datetime, lead_filter: Any
) -> dict[UUID, dict[ActivityType, int]]:
    """Per lead and activity type, how many activities count: one grouped query."""
    if not model.activities:
        return {}
    per_type = [
        and_(
            Activity.type == kind,
            Activity.occurred_at >= now - timedelta(days=rule.within_days)
            if rule.within_days is not None
            else Activity.occurred_at.is_not(None),
        )
        for kind, rule in model.activities.items()
    ]
    statement = (
        select(Activity.related_id, Activity.type, func.count())
        .join(Lead, Lead.id == Activity.related_id)
        .where(
            Activity.related_type == _LEADS,
            Activity.deleted_at.is_(None),
            Activity.occurred_at <= now,
            or_(*per_type),
            lead_filter,
        )
        .group_by(Activity.related_id, Activity.type)
    )
    counts: dict[UUID, dict[ActivityType, int]] = {}
    for lead_id, kind, count in session.execute(statement):
        if lead_id is not None:  # never: the join needs it
            counts.setdefault(lead_id, {})[ActivityType(kind)] = count
    return counts


def _lead_filter(lead_ids: Collection[UUID] | None) -> Any:
    condition = and_(Lead.deleted_at.is_(None), Lead.status.in_(sorted(OPEN_STATUSES)))
    if lead_ids is not None:
        condition = and_(condition, Lead.id.in_(list(lead_ids)))
    return condition


def score_leads(
    session: Session,
    model: ScoringModel,
    now: datetime,
    lead_ids: Collection[UUID] | None = None,
) -> list[LeadScore]:
    """Score every open lead (or the open ones of ``lead_ids``), reading set-wise: one query
    for the leads, one grouped query for their activities. Writes nothing."""
    condition = _lead_filter(lead_ids)
    leads = list(session.scalars(select(Lead).where(condition).order_by(Lead.id)))
    counts = _activity_counts(session, model, now, condition)
    return [_score_of(lead, counts.get(lead.id, {}), model) for lead in leads]


def _score_of(lead: Lead, counts: Mapping[ActivityType, int], model: ScoringModel) -> LeadScore:
    values: dict[str, str | None] = {name: getattr(lead, name) for name in model.fields}
    total, lines = score(values, counts, model)
    label = " / ".join(part for part in (lead.name, lead.company) if part)
    return LeadScore(
        lead_id=lead.id,
        label=label,
        total=total,
        band=model.band(total),
        lines=lines,
        previous=lead.score,
        version=lead.version,
    )


def score_lead(session: Session, lead_id: UUID, model: ScoringModel, now: datetime) -> LeadScore:
    """The score of one lead (whatever its status), with its explanation. Writes nothing."""
    lead = records.get(session, Lead, lead_id)
    condition = Lead.id == lead_id
    counts = _activity_counts(session, model, now, condition)
    return _score_of(lead, counts.get(lead_id, {}), model)


def rescore_leads(
    session: Session,
    model: ScoringModel,
    now: datetime,
    lead_ids: Collection[UUID] | None = None,
) -> list[LeadScore]:
    """Score open leads and store the scores that changed, in the caller's session (open it
    with an origin so change capture attributes the writes)."""
    scored = score_leads(session, model, now, lead_ids)
    for result in _changed(scored):
        records.update(
            session, Lead, result.lead_id, {"score": result.total}, expected_version=result.version
        )
    return scored


def _changed(scored: Iterable[LeadScore]) -> Sequence[LeadScore]:
    return [result for result in scored if result.changed]


def rescore(
    engine: Engine,
    model: ScoringModel,
    now: datetime,
    lead_ids: Collection[UUID] | None = None,
) -> dict[str, int]:
    """Score every open lead (or the given ones) and write the scores that changed, as the
    CRM (origin ``crm``). Returns ``{"scored": n, "changed": m}``."""
    with open_session(engine, origin=ORIGIN_CRM) as session:
        scored = rescore_leads(session, model, now, lead_ids)
    return {"scored": len(scored), "changed": len(_changed(scored))}
