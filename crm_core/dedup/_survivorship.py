"""Survivorship: which record of a duplicate group survives a merge, and which value each of its
fields takes.

Rules, per field (the defaults depend on the entity; any field can be overridden):

* ``most_recent``: the non-empty value of the most recently updated record (the record's
  ``updated_at``: change capture keeps no time per field; the survivor wins a tie).
* ``most_complete``: the non-empty value the most records hold; among values held equally
  often, the longest (as text). With two records that disagree this is the longer value; with
  three, two that agree outvote one. The value is taken from the survivor if it holds it, else
  from the most recently updated record that does.
* ``source_priority``: the non-empty value of a record linked to the first system of
  ``source_priority`` (e.g. ``["kingdee", "crm"]``) that has one; ``crm`` stands for records not
  linked to any system. Several records of one system: the most recent. None: ``most_recent``.
* ``survivor``: the survivor's value, empty or not.

Empty means NULL, blank text, or an empty JSON object or list. Keys of the JSON ``custom``
column are decided one by one, as fields named ``custom.<key>``.

The survivor, unless given: the record with the most references (rows of other tables that
point at it, and links to external systems); then the oldest ``created_at``; then the smallest
id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_core._credit_code import normalise_credit_code

__all__ = [
    "CRM_SOURCE",
    "FieldChoice",
    "Member",
    "Rule",
    "SurvivorshipRules",
    "choose_survivor",
    "choose_values",
    "default_rules",
    "is_empty",
]

CRM_SOURCE = "crm"
"""In ``source_priority``: records that are not linked to any external system."""


class Rule(StrEnum):
    """How a field of the survivor is chosen among the merged records' values."""

    MOST_RECENT = "most_recent"
    MOST_COMPLETE = "most_complete"
    SOURCE_PRIORITY = "source_priority"
    SURVIVOR = "survivor"


class SurvivorshipRules(BaseModel):
    """The rule of every field of one merge: ``default`` unless ``fields`` names another.

    ``fields`` keys are column names or ``custom.<key>`` (``custom`` alone sets every custom
    key); ``source_priority`` lists systems, most trusted first, for the ``source_priority``
    rule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Rule = Rule.MOST_RECENT
    fields: dict[str, Rule] = Field(default_factory=dict)
    source_priority: tuple[str, ...] = ()

    def rule_for(self, field: str) -> Rule:
        """The rule that decides ``field``."""
        if field in self.fields:
            return self.fields[field]
        if field.startswith("custom.") and "custom" in self.fields:
            return self.fields["custom"]
        return self.default

    def overriding(
        self, fields: Mapping[str, Rule | str], *, source_priority: Sequence[str] | None = None
    ) -> SurvivorshipRules:
        """These rules with some fields' rules replaced (and, if given, the system order)."""
        merged = {**self.fields, **{name: Rule(rule) for name, rule in fields.items()}}
        systems = tuple(source_priority) if source_priority is not None else self.source_priority
        return SurvivorshipRules(default=self.default, fields=merged, source_priority=systems)


_KEEP_SURVIVOR = {"owner_id": Rule.SURVIVOR, "team_id": Rule.SURVIVOR}
_DEFAULTS: dict[str, dict[str, Rule]] = {
    "accounts": {
        **_KEEP_SURVIVOR,
        "status": Rule.SURVIVOR,  # a new duplicate's default must not demote a customer
        "name": Rule.MOST_COMPLETE,
        "address": Rule.MOST_COMPLETE,
        "description": Rule.MOST_COMPLETE,
    },
    "contacts": {**_KEEP_SURVIVOR, "street": Rule.MOST_COMPLETE, "description": Rule.MOST_COMPLETE},
}


def default_rules(entity: str) -> SurvivorshipRules:
    """The default rules of an entity table: the most recent value, except the owner, team and
    account status (the survivor's) and names, addresses and descriptions (the most complete)."""
    return SurvivorshipRules(fields=dict(_DEFAULTS.get(entity, _KEEP_SURVIVOR)))


@dataclass(frozen=True)
class Member:
    """One record of a duplicate group, as survivorship sees it."""

    id: UUID
    values: Mapping[str, Any]
    """Every decided field (``custom.<key>`` for custom keys) and its value."""
    created_at: datetime
    updated_at: datetime
    systems: frozenset[str]
    """The external systems the record is linked to (none: a CRM-only record)."""
    references: int
    """How many rows of other tables and links to external systems point at the record."""


@dataclass(frozen=True)
class FieldChoice:
    """The value one field of the survivor takes: from which record, by which rule."""

    field: str
    value: Any
    source_id: UUID
    rule: Rule
    changed: bool
    """Whether the value differs from the survivor's own."""


def choose_survivor(members: Sequence[Member]) -> Member:
    """The record with the most references; then the oldest; then the smallest id."""
    return min(members, key=lambda member: (-member.references, member.created_at, member.id))


def is_empty(value: Any) -> bool:
    """Whether a value counts as missing: NULL, blank text, an empty JSON object or list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, dict | list) and not value


def choose_values(
    members: Sequence[Member], survivor: Member, rules: SurvivorshipRules, fields: Sequence[str]
) -> dict[str, FieldChoice]:
    """The value of each field of the survivor after the merge."""
    # The survivor first, then the most recently updated: every tie below keeps this order.
    ranked = sorted(members, key=lambda m: (m.id != survivor.id, -m.updated_at.timestamp()))
    choices = {}
    for field in fields:
        rule = rules.rule_for(field)
        source = _choose(rule, field, ranked, survivor, rules.source_priority)
        value = source.values.get(field)
        changed = value != survivor.values.get(field)
        choices[field] = FieldChoice(field, value, source.id, rule, changed)
    return choices


def _choose(
    rule: Rule,
    field: str,
    ranked: Sequence[Member],
    survivor: Member,
    systems: Sequence[str],
) -> Member:
    if rule is Rule.SURVIVOR:
        return survivor
    holders = _holders(field, ranked)
    if not holders:
        return survivor
    if rule is Rule.MOST_COMPLETE:
        return _most_complete(field, holders)
    if rule is Rule.SOURCE_PRIORITY:
        return _first_trusted(holders, systems)
    return _most_recent(holders)


def _holders(field: str, ranked: Sequence[Member]) -> list[Member]:
    """The members with a value for ``field``, most recent first; trusted values only when
    any member has one (an invalid credit code yields to a valid one)."""
    holders = [member for member in ranked if not is_empty(member.values.get(field))]
    check = _TRUSTED.get(field)
    if check is not None:
        trusted = [member for member in holders if check(member.values[field])]
        return trusted or holders
    return holders


_TRUSTED: dict[str, Callable[[Any], bool]] = {
    "credit_code": lambda value: normalise_credit_code(str(value)) is not None,
}


def _most_recent(holders: Sequence[Member]) -> Member:
    return max(holders, key=lambda member: member.updated_at)


def _most_complete(field: str, holders: Sequence[Member]) -> Member:
    counts: dict[str, int] = {}
    for member in holders:
        key = _key(member.values[field])
        counts[key] = counts.get(key, 0) + 1
    best = max(holders, key=lambda m: (counts[_key(m.values[field])], len(_key(m.values[field]))))
    best_key = _key(best.values[field])
    return next(member for member in holders if _key(member.values[field]) == best_key)


def _key(value: Any) -> str:
    return value.strip() if isinstance(value, str) else str(value)


def _first_trusted(holders: Sequence[Member], systems: Sequence[str]) -> Member:
    for system in systems:
        linked = [member for member in holders if _is_from(member, system)]
        if linked:
            return _most_recent(linked)
    return _most_recent(holders)


def _is_from(member: Member, system: str) -> bool:
    return not member.systems if system == CRM_SOURCE else system in member.systems
