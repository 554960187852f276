"""The Airflow DAG of pipelines/kingdee-customers.yaml (written by `tongbu airflow dags`)."""

from tongbu_airflow.factory import pipeline_dag

dag = pipeline_dag("kingdee-customers")
