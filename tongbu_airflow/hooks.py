"""Hooks of Tongbu's connection types: they turn an Airflow connection into the environment
variables a pipeline file reads (``TONGBU_KINGDEE_URL``...), so that the same pipeline runs
under Airflow with its credentials in a connection and from the ``tongbu`` command with them in
the environment."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from crm_core.alerts import SECRET_ENV, WEBHOOK_ENV

__all__ = ["AlertHook", "KingdeeHook", "connection_environment"]

_ALERT_NAMES = {"TONGBU_ALERT_URL": WEBHOOK_ENV, "TONGBU_ALERT_PASSWORD": SECRET_ENV}
"""The alert connection's host and password, under the names :mod:`crm_core.alerts` reads."""


def connection_environment(conn_id: str, system: str) -> dict[str, str]:
    """The environment variables of a system from the Airflow connection ``conn_id``: host as
    ``TONGBU_<SYSTEM>_URL``, login as ``..._USERNAME``, password as ``..._PASSWORD`` and each
    extra field as ``..._<FIELD>``. Empty when there is no such connection (the variables are
    then expected in the environment already)."""
    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException's home moved between versions
        return {}
    prefix = f"TONGBU_{system.upper()}_"
    found: dict[str, str] = {}
    if connection.host:
        found[f"{prefix}URL"] = str(connection.host)
    if connection.login:
        found[f"{prefix}USERNAME"] = str(connection.login)
    if connection.password:
        found[f"{prefix}PASSWORD"] = str(connection.password)
    extra: dict[str, Any] = connection.extra_dejson or {}
    for key, value in extra.items():
        if value is not None and value != "":
            found[f"{prefix}{key.upper()}"] = str(value)
    return found


class KingdeeHook(BaseHook):
    """A Kingdee K3 Cloud account: the WebAPI base URL (host), the user (login), the password
    and the account set id (``acct_id``)."""

    conn_name_attr = "tongbu_conn_id"
    default_conn_name = "tongbu_kingdee"
    conn_type = "tongbu_kingdee"
    hook_name = "Kingdee K3 Cloud (Tongbu)"

    def __init__(self, tongbu_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.tongbu_conn_id = tongbu_conn_id

    def environment(self) -> dict[str, str]:
        """The pipeline's environment variables from the connection."""
        return connection_environment(self.tongbu_conn_id, "kingdee")


class AlertHook(BaseHook):
    """Where failure alerts go: a WeCom or DingTalk group robot's webhook (host) and, for a
    DingTalk robot in signing mode, its secret (password)."""

    conn_name_attr = "tongbu_conn_id"
    default_conn_name = "tongbu_alerts"
    conn_type = "tongbu_alerts"
    hook_name = "Tongbu failure alerts"

    def __init__(self, tongbu_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.tongbu_conn_id = tongbu_conn_id

    def environment(self) -> dict[str, str]:
        """``TONGBU_ALERT_WEBHOOK`` and ``TONGBU_ALERT_SECRET`` from the connection."""
        found = connection_environment(self.tongbu_conn_id, "alert")
        return {_ALERT_NAMES.get(name, name): value for name, value in found.items()}
