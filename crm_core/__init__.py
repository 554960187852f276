"""Tongbu's core: the CRM database, its change feed, search, and (later) sync, dedup and rules.

The core never imports a connector; connectors are found through the ``tongbu.connectors``
entry-point group (DESIGN.md section 1).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
