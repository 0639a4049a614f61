"""Names shared by the daemon and the DAG factory."""


def dag_id_for(dag_name_prefix: str, dataset_name: str) -> str:
    """DAG id of a workflow: ``{prefix}__{name}``, or the bare name without a prefix.

    ``contrib/airflow/basecamp_dag_factory.py`` applies the same rule.
    """
    return f"{dag_name_prefix}__{dataset_name}" if dag_name_prefix else dataset_name
