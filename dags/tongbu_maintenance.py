"""Tongbu's maintenance DAGs for Airflow: dedup of accounts and contacts (scheduled on the
assets the sync DAGs publish), a migration triggered with its source and mapping as params,
and the nightly housekeeping. Each task is one call into crm_core.jobs."""

from tongbu_airflow.factory import dedup_dag, housekeeping_dag, migrate_dag

dedup_accounts = dedup_dag("account")
dedup_contacts = dedup_dag("contact")
migrate = migrate_dag()
housekeeping = housekeeping_dag()
