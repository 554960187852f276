"""Two-way sync between the CRM core and external systems (DESIGN.md sections 3 to 5).

So far: the connector contract, :mod:`crm_core.sync.ports`.
"""
