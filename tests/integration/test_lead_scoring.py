"""Lead scoring: points from fields and activities, bands, explanations, and rescoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from crm_core import records
from crm_core.db import open_session
from crm_core.errors import ConfigError
from crm_core.models import Activity, ActivityType, ChangeLog, Lead, LeadStatus
from crm_core.rules import ScoringModel, default_model, load_model, rescore, score_lead
from tests.conftest import Database

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)

MODEL = ScoringModel.model_validate(
    {
        "fields": {
            "industry": {
                "values": [
                    {"match": "制造业", "points": 20},
                    {"match": ["软件", "Internet"], "points": 15},
                ],
                "default": 3,
            },
            "source": {"values": {"展会": 10}},
        },
        "activities": {
            "meeting": {"points": 15, "max": 30},
            "call": {"points": 5, "within_days": 30},
        },
        "bands": {"hot": 50, "warm": 20, "cold": 0},
    }
)


def new_lead(db: Database, **values: Any) -> UUID:
    with open_session(db.engine, origin="crm") as session:
        return records.create(session, Lead, {"name": "张伟", "company": "华信", **values}).id


def add_activity(db: Database, lead_id: UUID, kind: ActivityType, days_ago: float) -> None:
    with open_session(db.engine, origin="crm") as session:
        records.create(
            session,
            Activity,
            {
                "type": kind,
                "subject": kind.value,
                "occurred_at": NOW - timedelta(days=days_ago),
                "related_type": "leads",
                "related_id": lead_id,
            },
        )


def stored_score(db: Database, lead_id: UUID) -> int | None:
    with open_session(db.engine) as session:
        return records.get(session, Lead, lead_id).score


def test_field_values_score_ignoring_case_and_spaces(db: Database) -> None:
    lead_id = new_lead(db, industry="  internet ", source="展会")

    with open_session(db.engine) as session:
        result = score_lead(session, lead_id, MODEL, NOW)

    assert result.total == 25
    assert [(line.rule, line.points) for line in result.lines[:2]] == [
        ("industry", 15),
        ("source", 10),
    ]
    assert result.band == "warm"


def test_other_values_get_the_default_and_empty_ones_nothing(db: Database) -> None:
    other = new_lead(db, industry="农业", source="广告")
    empty = new_lead(db)

    with open_session(db.engine) as session:
        assert score_lead(session, other, MODEL, NOW).total == 3
        assert score_lead(session, empty, MODEL, NOW).total == 0


def test_activities_count_with_a_cap_and_a_window(db: Database) -> None:
    lead_id = new_lead(db, industry="制造业")
    for days_ago in (1.0, 50.0, 400.0):
        add_activity(db, lead_id, ActivityType.MEETING, days_ago)  # 45 points, capped at 30
    for days_ago in (0, 29.9, 31):
        add_activity(db, lead_id, ActivityType.CALL, days_ago)  # the third is out of the window
    add_activity(db, lead_id, ActivityType.CALL, -1)  # in the future of NOW: not yet
    add_activity(db, lead_id, ActivityType.NOTE, 1)  # no rule for notes

    with open_session(db.engine) as session:
        result = score_lead(session, lead_id, MODEL, NOW)

    by_rule = {line.rule: line for line in result.lines}
    assert (by_rule["activity meeting"].matched, by_rule["activity meeting"].points) == (3, 30)
    assert by_rule["activity meeting"].note == "capped at 30"
    assert (by_rule["activity call"].matched, by_rule["activity call"].points) == (2, 10)
    assert result.total == 20 + 30 + 10
    assert sum(line.points for line in result.lines) == result.total
    assert result.band == "hot"


def test_bands_pick_the_highest_threshold_reached() -> None:
    assert [MODEL.band(total) for total in (-5, 0, 19, 20, 49, 50, 99)] == [
        None,
        "cold",
        "cold",
        "warm",
        "warm",
        "hot",
        "hot",
    ]


def test_rescore_writes_only_changed_scores_of_open_leads_as_the_crm(db: Database) -> None:
    first = new_lead(db, industry="制造业")
    second = new_lead(db, industry="软件")
    closed = new_lead(db, industry="制造业", status=LeadStatus.CONVERTED)
    add_activity(db, first, ActivityType.MEETING, 2)

    assert rescore(db.engine, MODEL, NOW) == {"scored": 2, "changed": 2}
    assert (stored_score(db, first), stored_score(db, second)) == (35, 15)
    assert stored_score(db, closed) is None

    with open_session(db.engine) as session:
        version = records.get(session, Lead, second).version
    add_activity(db, first, ActivityType.CALL, 1)
    assert rescore(db.engine, MODEL, NOW) == {"scored": 2, "changed": 1}
    assert stored_score(db, first) == 40
    with open_session(db.engine) as session:
        assert records.get(session, Lead, second).version == version  # not written again
        logged = list(
            session.scalars(
                select(ChangeLog).where(ChangeLog.entity == "leads", ChangeLog.op == "update")
            )
        )
    assert len(logged) == 3
    assert {entry.origin for entry in logged} == {"crm"}


def test_rescore_of_given_leads_leaves_the_others(db: Database) -> None:
    first = new_lead(db, industry="制造业")
    second = new_lead(db, industry="软件")

    assert rescore(db.engine, MODEL, NOW, lead_ids=[second]) == {"scored": 1, "changed": 1}
    assert (stored_score(db, first), stored_score(db, second)) == (None, 15)


def test_the_shipped_model_loads() -> None:
    model = default_model()
    assert {"industry", "company_size", "source"} <= set(model.fields)
    assert model.band(100) == "hot"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("fields:\n  industry:\n    values: {制造业: lots}\n", "fields.industry.values"),
        ("fields:\n  colour:\n    values: {red: 1}\n", "fields.colour"),
        ("activities:\n  lunch: {points: 3}\n", "activities.lunch"),
        ("activities:\n  call: {points: 3, within_days: 0}\n", "activities.call.within_days"),
        ("bands: [hot]\n", "bands"),
        ("fields: [\n", "not valid YAML"),
    ],
)
def test_a_bad_model_file_names_the_file_and_the_field(
    tmp_path: Path, text: str, names: str
) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_model(path)

    assert str(path) in str(raised.value)
    assert names in str(raised.value)
