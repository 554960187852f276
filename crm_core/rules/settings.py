"""The CRM rules' settings: the public pools, the lead assignment rules and the chats the sales
teams are told things in, as one YAML file (``rules/crm.yaml`` by default, or the file
``TONGBU_RULES`` names), validated with pydantic when it is loaded.

::

    time_zone: Asia/Shanghai          # when a day starts (daily claim limits, reminders)
    pools:
      - name: east                    # a public pool (公海) of accounts or of leads
        entity: accounts
        scope: {province: [浙江, 江苏]} # records without a pool that belong here
        max_held: 50                  # records of this pool one user may hold
        daily_claims: 10              # claims per user per day
        cooldown_days: 7              # before a previous owner may claim a record back
        recycle: {no_followup_days: 30, no_won_deal_days: 90, warn_days: 3}
        channel: east-sales
    assignment:
      rules:
        - name: east-round-robin
          when: {province: [浙江, 江苏]}
          team: 华东销售部
          strategy: round_robin       # or capacity (quota open leads per member)
          channel: east-sales
      fallback_pool: leads           # leads no rule takes wait in this pool
    notifications:
      channels:
        east-sales: {kind: wecom, webhook_env: TONGBU_WECOM_EAST_WEBHOOK}
      max_attempts: 8
      backoff_seconds: 60

Users are named by e-mail address, teams by name. Webhooks (which carry the robot's key) are
never in the file: a channel names the environment variable that holds its webhook and, for a
signing DingTalk robot, the one that holds its secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_core.errors import ConfigError
from crm_core.models import ActivityType
from crm_core.rules._yaml import load_yaml_model

__all__ = [
    "DEFAULT_RULES_PATH",
    "RULES_ENV",
    "AssignmentRule",
    "AssignmentSettings",
    "Channel",
    "NotificationSettings",
    "PoolSettings",
    "RecycleSettings",
    "RulesSettings",
    "load_rules",
    "rules_path",
]

RULES_ENV = "TONGBU_RULES"
"""The environment variable that names the rules file."""

DEFAULT_RULES_PATH = Path("rules/crm.yaml")
"""The rules file when ``TONGBU_RULES`` is not set (relative to the working directory)."""

PoolEntity = Literal["accounts", "leads"]
"""The tables that have public pools."""

ScopeField = Literal["province", "city", "country", "industry", "source", "company_size"]
"""The record fields a pool's scope or an assignment rule may filter on."""

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s].*[^\s]$|^[^\s]$")]

_FOLLOWUP_TYPES = (
    ActivityType.CALL,
    ActivityType.MEETING,
    ActivityType.FOLLOW_UP,
    ActivityType.EMAIL,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _values_as_lists(data: Any) -> Any:
    """``{province: 浙江}`` means ``{province: [浙江]}``."""
    if isinstance(data, dict):
        return {key: [value] if isinstance(value, str) else value for key, value in data.items()}
    return data


Filter = dict[ScopeField, Annotated[list[str], Field(min_length=1)]]
"""Field name to the values it may have (any of them): every field given must match."""


class RecycleSettings(_Strict):
    """When a pool takes a record back from a neglectful owner.

    ``no_followup_days``: no follow-up activity by the owner for that many days;
    ``no_won_deal_days``: no won deal (for an account) or no conversion (for a lead) for that
    many days since the owner got it. ``warn_days`` before either, the owner is warned.
    """

    no_followup_days: Annotated[int, Field(gt=0)] | None = None
    no_won_deal_days: Annotated[int, Field(gt=0)] | None = None
    warn_days: Annotated[int, Field(ge=0)] = 3

    @model_validator(mode="after")
    def _warning_before_recycle(self) -> RecycleSettings:
        limits = [d for d in (self.no_followup_days, self.no_won_deal_days) if d is not None]
        if limits and self.warn_days >= min(limits):
            raise ValueError("warn_days must be fewer than the days before a recycle")
        return self

    @property
    def enabled(self) -> bool:
        """Whether records of the pool are ever recycled."""
        return self.no_followup_days is not None or self.no_won_deal_days is not None


class PoolSettings(_Strict):
    """One public pool of accounts or of leads."""

    name: Name
    entity: PoolEntity
    title: str | None = None
    """How people call it (e.g. 华东公海); default the name."""
    scope: Filter = {}
    """Records with no pool yet whose fields match this go to this pool (``tongbu pool
    adopt``); a pool with no scope only holds what is put or returned into it."""
    teams: list[Name] = []
    """Only members of these teams may claim from the pool (default: anyone)."""
    max_held: Annotated[int, Field(gt=0)] | None = None
    daily_claims: Annotated[int, Field(gt=0)] | None = None
    cooldown_days: Annotated[int, Field(ge=0)] = 0
    recycle: RecycleSettings = RecycleSettings()
    followup_types: list[ActivityType] = list(_FOLLOWUP_TYPES)
    """The activity types that count as a follow-up."""
    channel: Name | None = None
    """The chat its owners are warned and told in (default: the default channel)."""

    _scope_lists = field_validator("scope", mode="before")(_values_as_lists)

    @property
    def label(self) -> str:
        """The pool's title, or its name."""
        return self.title or self.name


class AssignmentRule(_Strict):
    """One way of handing out new leads: to the members of a team, or to listed users."""

    name: Name
    when: Filter = {}
    """The leads the rule takes (every field given must match one of its values); an empty
    ``when`` takes every lead that earlier rules did not."""
    team: Name | None = None
    users: list[str] = []
    """Members by e-mail address (instead of, or as well as, a team's members)."""
    strategy: Literal["round_robin", "capacity"] = "round_robin"
    quota: Annotated[int, Field(gt=0)] | None = None
    """Open leads a member may hold (``capacity``: members at their quota get no more; a
    round robin skips them too)."""
    quotas: dict[str, Annotated[int, Field(ge=0)]] = {}
    """Quotas of single members, by e-mail address."""
    channel: Name | None = None

    _when_lists = field_validator("when", mode="before")(_values_as_lists)

    @model_validator(mode="after")
    def _has_members(self) -> AssignmentRule:
        if self.team is None and not self.users:
            raise ValueError("name a team or users to assign to")
        if self.strategy == "capacity" and self.quota is None and not self.quotas:
            raise ValueError("the capacity strategy needs a quota")
        return self


class AssignmentSettings(_Strict):
    """The assignment rules, tried in order; the first whose ``when`` matches takes a lead."""

    rules: list[AssignmentRule] = []
    fallback_pool: Name | None = None
    """Leads that no rule takes (or that no member has room for) go to this pool."""

    @model_validator(mode="after")
    def _unique_names(self) -> AssignmentSettings:
        names = [rule.name for rule in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("two assignment rules have the same name")
        return self


class Channel(_Strict):
    """A group chat: a WeCom group robot or a DingTalk custom robot."""

    kind: Literal["wecom", "dingtalk"]
    webhook_env: Name
    """The environment variable that holds the robot's webhook URL."""
    secret_env: Name | None = None
    """The environment variable that holds a DingTalk robot's signing secret."""

    def webhook(self) -> str | None:
        """The webhook URL from the environment (``None`` when unset)."""
        return os.environ.get(self.webhook_env) or None

    def secret(self) -> str | None:
        """The signing secret from the environment, if the channel has one."""
        return os.environ.get(self.secret_env) or None if self.secret_env else None


class NotificationSettings(_Strict):
    """Where notifications go and how hard delivery tries."""

    channels: dict[Name, Channel] = {}
    default_channel: Name | None = None
    """The chat for notifications whose pool or rule names none (default: the only one)."""
    max_attempts: Annotated[int, Field(gt=0)] = 8
    backoff_seconds: Annotated[float, Field(gt=0)] = 60.0
    """The wait before the second attempt; it doubles with each failed attempt."""

    @model_validator(mode="after")
    def _default_is_known(self) -> NotificationSettings:
        if self.default_channel is not None and self.default_channel not in self.channels:
            raise ValueError(f"default_channel {self.default_channel!r} is not a channel")
        return self

    def channel_for(self, name: str | None) -> str | None:
        """The channel a notification goes to: ``name``, else the default one."""
        if name is not None:
            return name
        if self.default_channel is not None:
            return self.default_channel
        return next(iter(self.channels)) if len(self.channels) == 1 else None


class RulesSettings(_Strict):
    """The whole rules file."""

    time_zone: str = "Asia/Shanghai"
    pools: list[PoolSettings] = []
    assignment: AssignmentSettings = AssignmentSettings()
    notifications: NotificationSettings = NotificationSettings()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _references(self) -> RulesSettings:
        names = [pool.name for pool in self.pools]
        if len(names) != len(set(names)):
            raise ValueError("two pools have the same name")
        fallback = self.assignment.fallback_pool
        if fallback is not None and fallback not in self.pool_names("leads"):
            raise ValueError(f"assignment.fallback_pool {fallback!r} is not a pool of leads")
        channels = self.notifications.channels
        used = [(f"pool {p.name}", p.channel) for p in self.pools]
        used += [(f"assignment rule {r.name}", r.channel) for r in self.assignment.rules]
        for owner, channel in used:
            if channel is not None and channel not in channels:
                raise ValueError(f"{owner} names the channel {channel!r}, which is not defined")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The time zone days are counted in."""
        return ZoneInfo(self.time_zone)

    def pool_names(self, entity: str | None = None) -> list[str]:
        """The names of the pools (of one entity)."""
        return [pool.name for pool in self.pools if entity is None or pool.entity == entity]

    def pool(self, name: str) -> PoolSettings:
        """The pool of that name; :class:`ConfigError` listing the pools when there is none."""
        for pool in self.pools:
            if pool.name == name:
                return pool
        known = ", ".join(self.pool_names()) or "none is defined"
        raise ConfigError(f"no pool named {name!r} (pools: {known})")


def rules_path(path: Path | str | None = None) -> Path:
    """The rules file: ``path``, else ``TONGBU_RULES``, else ``rules/crm.yaml``."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(RULES_ENV, "").strip()
    return Path(from_env) if from_env else DEFAULT_RULES_PATH


def load_rules(path: Path | str | None = None) -> RulesSettings:
    """Read and validate the rules file; :class:`ConfigError` names the file and the field."""
    chosen = rules_path(path)
    return load_yaml_model(
        chosen,
        RulesSettings,
        what="the rules file",
        holds="pools, assignment, notifications",
        missing=f"no rules file at {chosen}: write one (see rules/README.md) or set {RULES_ENV}",
    )
