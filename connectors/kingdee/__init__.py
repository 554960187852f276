"""The Kingdee K3 Cloud (金蝶云星空) connector: customers, materials and sale orders through the
K3 Cloud WebAPI, with its emulator (:mod:`connectors.kingdee.emulator`)."""

from __future__ import annotations

from connectors.kingdee.config import KingdeeConfig, load_config
from connectors.kingdee.connector import KingdeeConnector, create_connector

__all__ = ["KingdeeConfig", "KingdeeConnector", "create_connector", "load_config"]
