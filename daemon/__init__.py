"""basecamp's core library: everything but the dashboard and the CLI.

    core/        configuration, errors, state names, time formatting, paths, naming, logging
    store/       the Peewee models, connection, frozen migrations, bulk writes, events,
                 the daemon lease, which spec is in force
    read/        the one read API of the CLI and the dashboard
    actions/     the action queue (the write API of the CLI and the dashboard), and the
                 daemon's side of it: validation, permissions, executor, handlers
    specs/       the Dataset Spec: parsing untrusted files, parameters, schedules
    spec_store/  where specs live: a local folder or S3
    spec_sync/   spec store → store (the override policy)
    airflow/     the Airflow REST client (Airflow 3 /api/v2 and 2 /api/v1)
    run_sync/    Airflow → store: runs, task progress, pause states, cluster health
    notify/      notifications through an outbox
    runtime/     the daemon process: the loop, its workers, systemd

Nothing here imports Textual, ``basecamp_tui`` or ``basecamp_cli`` (an import contract in
pyproject.toml checks it). Installed as the top-level package ``daemon``, which
python-daemon also owns: basecamp never goes into an Airflow environment.
"""
