"""The settings of one Kingdee K3 Cloud connection (an account set on a server)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from crm_core.sync.ports import ConfigurationError

__all__ = ["KingdeeConfig", "load_config"]


class KingdeeConfig(BaseModel):
    """Where the K3 Cloud WebAPI is and how to log in to it.

    ``base_url`` is the site address ending in ``/k3cloud/`` (``https://erp.example.com/k3cloud/``);
    ``acct_id`` the account set (数据中心) id; ``lcid`` 2052 = simplified Chinese.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    base_url: str
    acct_id: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    lcid: int = 2052
    timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for an answer."""
    requests_per_second: float | None = Field(default=None, gt=0)
    """A client-side rate limit (None: none). K3 Cloud is hosted by its owner, who may ask for
    one to spare the server."""
    timezone: str = "Asia/Shanghai"
    """The server's zone: K3 writes ``FModifyDate`` in its local time, without a zone."""
    org_number: str = Field(default="100", min_length=1)
    """The organisation new records are created in (``FCreateOrgId``/``FUseOrgId``/
    ``FSaleOrgId``) when a record does not say."""
    page_size: int = Field(default=2000, ge=1, le=10000)
    """The most rows one query asks for (K3 answers at most 10,000)."""
    lookback_seconds: float = Field(default=0.0, ge=0, le=86400)
    """How far before the saved cursor an incremental read starts again. K3 stamps
    ``FModifyDate`` when a save begins, so with many writers a save can commit after a later one
    was read; re-reading a short window (e.g. 120 s) catches it, and the engine skips what it has
    already seen. 0 (the default) reads strictly after the cursor."""
    write_batch_size: int = Field(default=100, ge=1, le=1000)
    """Records per BatchSave."""
    max_attempts: int = Field(default=5, ge=1, le=20)
    """Tries of one request, the first included."""
    unaudit_before_delete: bool = True
    """K3 refuses to delete audited data: un-audit (反审核) it first, so a delete the sync
    propagates goes through. False leaves audited records to be refused (quarantined)."""

    @field_validator("base_url")
    @classmethod
    def _site(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) address such as https://erp.example.com/k3cloud/")
        if not value.endswith("/"):
            value += "/"
        if not value.lower().endswith("/k3cloud/"):
            raise ValueError("must end with /k3cloud/ (the K3 Cloud site)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The server's time zone."""
        return ZoneInfo(self.timezone)


def load_config(settings: Mapping[str, Any]) -> KingdeeConfig:
    """Validate settings; a mistake is a :class:`ConfigurationError` naming the fields (and
    never repeating a value, so never the password)."""
    try:
        return KingdeeConfig.model_validate(dict(settings))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"kingdee settings are not valid: {problems}") from None
