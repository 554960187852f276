"""Connector plugins: one package per external system (DESIGN.md section 3).

A connector imports only ``crm_core.sync.ports`` and ``connectors._http``; the core finds
connectors through the ``tongbu.connectors`` entry-point group and never imports them.
"""
