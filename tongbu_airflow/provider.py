"""The provider information Airflow reads through the ``apache_airflow_provider`` entry point:
Tongbu's connection types, with the form fields the UI shows for each."""

from __future__ import annotations

from typing import Any

__all__ = ["CONNECTION_TYPES", "get_provider_info"]

CONNECTION_TYPES: dict[str, dict[str, Any]] = {
    "tongbu_kingdee": {
        "connection-type": "tongbu_kingdee",
        "hook-class-name": "tongbu_airflow.hooks.KingdeeHook",
        "hook-name": "Kingdee K3 Cloud (Tongbu)",
        "conn-fields": {
            "acct_id": {
                "label": "Account set id (acctID)",
                "schema": {"type": ["string", "null"]},
                "description": "The data centre (账套) id of the K3 Cloud account.",
            },
            "lcid": {
                "label": "Language id (lcid)",
                "schema": {"type": ["integer", "null"]},
                "description": "2052 for simplified Chinese (the default).",
            },
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "WebAPI base URL", "login": "User name"},
            "placeholders": {
                "host": "https://erp.example.com/k3cloud/",
                "login": "Administrator",
                "acct_id": "6650c3a1f2e4b7",
            },
        },
    },
    "tongbu_alerts": {
        "connection-type": "tongbu_alerts",
        "hook-class-name": "tongbu_airflow.hooks.AlertHook",
        "hook-name": "Tongbu failure alerts (WeCom / DingTalk group robot)",
        "conn-fields": {},
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"host": "Robot webhook URL", "password": "DingTalk signing secret"},
            "placeholders": {
                "host": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...",
                "password": "SEC... (DingTalk robots in signing mode only)",
            },
        },
    },
}
"""By connection type: its hook and its form, in the declarative form of Airflow 3.2+."""


def get_provider_info() -> dict[str, Any]:
    """What ``airflow providers list`` and the connection form read about Tongbu."""
    return {
        "package-name": "tongbu",
        "name": "Tongbu",
        "description": "Tongbu (同步): the CRM integration hub's systems as Airflow connections.",
        "versions": ["0.1.0"],
        "connection-types": list(CONNECTION_TYPES.values()),
    }
