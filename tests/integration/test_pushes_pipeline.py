"""`stockdrop push` and the channel_pushes asset against a real HTTP server, from dropped files."""

import json
import os
import shutil
import subprocess
import sys

from pytest_httpserver import HTTPServer

from tests.conftest import EXAMPLES


def run(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_push_sends_each_change_once_with_the_token_from_the_environment(tmp_path, httpserver: HTTPServer):
    inbox = tmp_path / "drops"
    inbox.mkdir()
    for f in (EXAMPLES / "01-keys-update-overwrite" / "drops").iterdir():
        shutil.copy(f, inbox / f.name)
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        "partners:\n  brand:\n    account: brand\n    source: drops\n    settle_s: 0\n"
        f"    channels:\n      joor: {{base_url: '{httpserver.url_for('')[:-1]}', token: {{env: BRAND_JOOR}}}}\n"
    )
    httpserver.expect_request("/v2/bulk-inventory", method="POST").respond_with_json({"ok": True})
    env = {**os.environ, "BRAND_JOOR": "tok-123"}
    store = f"sqlite:///{tmp_path}/s.db"
    synced = run("sync", "--partners", str(partners), "--store", store, env=env)
    assert synced.returncode == 0, synced.stderr
    assert "tok-123" not in synced.stderr + synced.stdout
    sent = [json.loads(req.data)["inventory_items"]["inventory_item"] for req, _ in httpserver.log]
    items = [i for batch in sent for i in batch]
    assert {(i["warehouse"], i["inventory"]) for i in items} == {("DEFAULT", 8), ("NYC", 0), ("SPRING", 0)}
    assert all(req.headers["Authorization"].startswith("OAuth2 ") for req, _ in httpserver.log)
    requests_before = len(httpserver.log)

    pushed = run("push", "--partners", str(partners), "--store", store, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert len(httpserver.log) == requests_before  # nothing changed, nothing sent again

    missing = run(
        "push", "--partners", str(partners), "--store", store, env={k: v for k, v in env.items() if k != "BRAND_JOOR"}
    )
    assert missing.returncode != 0 and "BRAND_JOOR" in missing.stderr


def test_after_a_late_file_refolds_the_push_carries_only_the_net_change(tmp_path, httpserver: HTTPServer):
    inbox = tmp_path / "drops"
    shutil.copytree(EXAMPLES / "03-late-drop" / "drops", inbox)
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        "partners:\n  brand:\n    account: brand\n    source: drops\n    settle_s: 0\n"
        f"    channels:\n      joor: {{base_url: '{httpserver.url_for('')[:-1]}', token: {{env: BRAND_JOOR}}}}\n"
    )
    httpserver.expect_request("/v2/bulk-inventory", method="POST").respond_with_json({"ok": True})
    env = {**os.environ, "BRAND_JOOR": "tok-123", "STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    store = f"sqlite:///{tmp_path}/s.db"
    assert run("sync", "--partners", str(partners), "--store", store, env=env).returncode == 0
    first = [i for req, _ in httpserver.log for i in json.loads(req.data)["inventory_items"]["inventory_item"]]
    assert [(i["upc"], i["inventory"]) for i in first] == [("012345678905", 6)]

    # a late overwrite before the last file: 905 ends at 6 again (net unchanged), 912 appears with 9
    shutil.copy(EXAMPLES / "03-late-drop" / "late" / "inventory_20261103T080000_overwrite.csv", inbox)
    seen = len(httpserver.log)
    assert run("sync", "--partners", str(partners), "--store", store, env=env).returncode == 0
    second = [
        i for req, _ in list(httpserver.log)[seen:] for i in json.loads(req.data)["inventory_items"]["inventory_item"]
    ]
    assert [(i["upc"], i["inventory"]) for i in second] == [("012345678912", 9)]
