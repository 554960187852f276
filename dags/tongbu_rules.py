"""Tongbu's CRM rules DAGs for Airflow: the nightly recycle of the public pools, the assignment
of new leads every five minutes, and the morning reminders. Each task is one call into
crm_core.jobs; the rules come from rules/crm.yaml (or TONGBU_RULES)."""

from tongbu_airflow.factory import lead_assignment_dag, morning_reminders_dag, pool_recycle_dag

pool_recycle = pool_recycle_dag()
lead_assignment = lead_assignment_dag()
morning_reminders = morning_reminders_dag()
