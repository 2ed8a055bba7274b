"""A partner's files only ever change its own account."""

import os
import shutil
import subprocess
import sys

from pipelines.adapters.store import SqlStore
from tests.conftest import EXAMPLES


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def test_two_partners_two_accounts_and_no_rebinding(tmp_path):
    for name, example in (("a", "01-keys-update-overwrite"), ("b", "03-late-drop")):
        shutil.copytree(EXAMPLES / example / "drops", tmp_path / name)
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        "partners:\n"
        "  alpha: {account: acct_a, source: a, settle_s: 0}\n"
        "  beta: {account: acct_b, source: b, settle_s: 0}\n"
    )
    store = f"sqlite:///{tmp_path}/s.db"
    assert run("sync", "--partners", str(partners), "--store", store).returncode == 0
    a = run("state", "--store", store, "--account", "acct_a").stdout
    b = run("state", "--store", store, "--account", "acct_b").stdout
    assert a == (EXAMPLES / "01-keys-update-overwrite" / "expected_state.csv").read_text().replace(
        "default,", "acct_a,"
    )
    expected_b = (EXAMPLES / "03-late-drop" / "expected_state.csv").read_text().splitlines()
    assert b.splitlines()[1:] == [
        line.replace("default,", "acct_b,") for line in expected_b[1:] if "012345678905" in line
    ]
    rejects = SqlStore(store).rejects()
    assert set(rejects["partner"]) == {"alpha"}

    # the same partner name pointed at another account is refused, and nothing lands for it
    partners.write_text("partners:\n  beta: {account: acct_a, source: b, settle_s: 0}\n")
    (tmp_path / "b" / "inventory_20261105T080000.csv").write_text("upc,quantity\n012345678905,99\n")
    refused = run("sync", "--partners", str(partners), "--store", store)
    assert refused.returncode != 0
    assert "partner 'beta' belongs to account 'acct_b'" in refused.stderr
    assert run("state", "--store", store, "--account", "acct_a").stdout == a
    assert run("state", "--store", store, "--account", "acct_b").stdout == b
