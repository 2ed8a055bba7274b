"""The executor of every job, as `STOCKDROP_EXECUTOR` says (cli.md v1.1, Executors and workers).

`multiprocess` (the default) runs each step in its own process, forked from a server that
imported the definitions once per run; `in_process` runs a run's steps
in the run's process; `celery` sends each step to the Celery workers (`stockdrop worker`) through
the broker `STOCKDROP_CELERY_BROKER_URL`, results through `STOCKDROP_CELERY_BACKEND_URL`.
"""

import dagster as dg

from pipelines.adapters import environment


def chosen_executor() -> dg.ExecutorDefinition:
    choice = environment.executor()
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        # Steps fork from a server that has imported the definitions once per run, instead of each
        # step importing Dagster and the project afresh (≈4 s a step here).
        return dg.multiprocess_executor.configured({"start_method": {"forkserver": {}}}, name="multiprocess")
    broker, backend = environment.celery_urls()
    from dagster_celery import celery_executor  # the `celery` extra: imported only when chosen

    return celery_executor.configured({"broker": broker, "backend": backend}, name="celery")
