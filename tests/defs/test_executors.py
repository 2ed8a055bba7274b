"""STOCKDROP_EXECUTOR chooses the executor of every job (cli.md v1.1); `stockdrop worker` reads
the same environment."""

import subprocess
import sys

import pytest

from pipelines.adapters import environment
from pipelines.adapters.celery_worker import worker_argv
from pipelines.defs import build_definitions
from pipelines.defs.resources import PartnersResource, StoreResource


def executor_of_every_job(tmp_path) -> set[str]:
    defs = build_definitions(StoreResource(url=f"sqlite:///{tmp_path / 's.db'}"), PartnersResource())
    return {defs.resolve_job_def(name).executor_def.name for name in ("apply_drop", "decide_file")}


@pytest.mark.parametrize(
    ("value", "name"), [(None, "multiprocess"), ("in_process", "in_process"), ("multiprocess", "multiprocess")]
)
def test_the_executor_is_chosen_by_the_environment(tmp_path, monkeypatch, value, name):
    if value is None:
        monkeypatch.delenv("STOCKDROP_EXECUTOR", raising=False)
    else:
        monkeypatch.setenv("STOCKDROP_EXECUTOR", value)
    assert executor_of_every_job(tmp_path) == {name}


def test_celery_needs_its_broker_and_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKDROP_EXECUTOR", "celery")
    monkeypatch.delenv("STOCKDROP_CELERY_BACKEND_URL", raising=False)
    monkeypatch.setenv("STOCKDROP_CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(environment.BadSetting, match="STOCKDROP_CELERY_BACKEND_URL is not set"):
        executor_of_every_job(tmp_path)
    monkeypatch.setenv("STOCKDROP_CELERY_BACKEND_URL", "redis://127.0.0.1:1/1")
    assert executor_of_every_job(tmp_path) == {"celery"}
    monkeypatch.setenv("STOCKDROP_EXECUTOR", "threads")
    with pytest.raises(environment.BadSetting, match="STOCKDROP_EXECUTOR='threads'"):
        executor_of_every_job(tmp_path)


def test_the_worker_is_celerys_own_on_the_dagster_queue(monkeypatch):
    monkeypatch.setenv("STOCKDROP_CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("STOCKDROP_CELERY_BACKEND_URL", "redis://127.0.0.1:1/1")
    argv, env = worker_argv("w1", 3)
    assert argv[1:6] == ["-m", "celery", "-A", "dagster_celery.app", "worker"]
    assert argv[argv.index("-n") + 1] == "w1@%h" and argv[argv.index("--concurrency") + 1] == "3"
    assert argv[argv.index("-Q") + 1] == "dagster"
    config = env["PYTHONPATH"].split(":")[0] + "/dagster_celery_config.py"
    assert open(config).read() == "broker_url = 'redis://127.0.0.1:1/0'\nresult_backend = 'redis://127.0.0.1:1/1'\n"
    monkeypatch.delenv("STOCKDROP_CELERY_BROKER_URL")
    missing = subprocess.run([sys.executable, "-m", "pipelines", "worker"], capture_output=True, text=True)
    assert missing.returncode == 2 and "STOCKDROP_CELERY_BROKER_URL is not set" in missing.stderr
