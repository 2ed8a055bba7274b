"""`stockdrop worker`: one Celery worker for this project's steps (cli.md v1.1).

dagster-celery's worker is Celery's own (`celery -A dagster_celery.app worker`), which reads its
broker and result backend from a `dagster_celery_config` module on the path. We write that module
from the environment and *become* the Celery worker (exec), so a SIGTERM reaches Celery directly:
a warm shutdown that finishes the current step.
"""

import os
import sys
import tempfile
from pathlib import Path

from pipelines.adapters import environment

QUEUE = "dagster"  # dagster-celery's default queue


def worker_argv(name: str | None, concurrency: int | None) -> tuple[list[str], dict[str, str]]:
    """The Celery worker's command line and environment."""
    broker, backend = environment.celery_urls()
    try:
        import dagster_celery  # noqa: F401
    except ImportError as e:
        raise environment.BadSetting("stockdrop worker needs the celery extra: pip install -e '.[celery]'") from e
    config_dir = Path(tempfile.mkdtemp(prefix="stockdrop-worker-"))
    (config_dir / "dagster_celery_config.py").write_text(f"broker_url = {broker!r}\nresult_backend = {backend!r}\n")
    argv = [sys.executable, "-m", "celery", "-A", "dagster_celery.app", "worker", "--prefetch-multiplier=1"]
    argv += ["--loglevel", "INFO", "-Q", QUEUE, "-n", f"{name or 'stockdrop'}@%h"]
    argv += ["--concurrency", str(concurrency)] if concurrency else []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(config_dir), env.get("PYTHONPATH")) if p)
    return argv, env


def run_worker(name: str | None, concurrency: int | None) -> None:
    argv, env = worker_argv(name, concurrency)
    os.execve(argv[0], argv, env)
