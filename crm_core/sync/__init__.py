"""Two-way sync between the CRM core and external systems (DESIGN.md sections 3 to 5).

* :mod:`crm_core.sync.ports`: the connector contract and its typed errors;
* :mod:`crm_core.sync.pipeline`: pipeline files (``pipelines/*.yaml``) and opening their
  connector;
* :mod:`crm_core.sync.engine`: :func:`~crm_core.sync.engine.run_pipeline`, one run in one or
  both directions, with its ``sync_run`` rows;
* :mod:`crm_core.sync.inbound` and :mod:`crm_core.sync.outbound`: the two halves and their
  guarantees (one page per transaction, the cursor with the data, three-way compare, no echo);
* :mod:`crm_core.sync.review`: quarantine replay, conflicts settled by a person, previews.
"""
