"""Tongbu on Apache Airflow: the DAG factory (:mod:`tongbu_airflow.factory`), the connection
types of the systems Tongbu talks to (:mod:`tongbu_airflow.hooks`) and the provider entry point
that shows them in the Airflow UI (:func:`get_provider_info`).

Airflow only schedules, retries and distributes: every task body is one call into
:mod:`crm_core.jobs`, so the same jobs run from the ``tongbu`` command without Airflow.
"""

from tongbu_airflow.provider import get_provider_info

__all__ = ["get_provider_info"]
