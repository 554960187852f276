"""Connector plugins: one package per external system (DESIGN.md section 3).

A connector imports only ``crm_core.sync.ports`` and ``connectors._http``; the core finds
connectors through the ``tongbu.connectors`` entry-point group and never imports them.
:data:`BUILTIN` lists the connectors shipped here (also published as entry points), so ``grep``
finds them.
"""

__all__ = ["BUILTIN"]

BUILTIN: dict[str, str] = {
    "kingdee": "connectors.kingdee:create_connector",
}
"""The built-in connectors: name -> ``module:factory`` (a factory takes the settings mapping)."""
