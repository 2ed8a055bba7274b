"""Many small files: `stockdrop sync` of an SFTP inbox against `stockdrop replay` of the same files
from a local folder (issue 13: ≤ 2× on a 5,000-file inbox).

Run: `.venv/bin/python benchmarks/many_files.py [--files 200]` (a local OpenSSH sshd is started,
as the integration tests do). The inbox holds a styles file and `--files` small inventory
updates, each its own as-of. Both commands run as an operator runs them (fresh processes,
SQLite store); the floor is `replay` of the same files, measured in the same run. Per-file costs
are printed so a small run can be extrapolated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.sshd_server import start_sshd  # noqa: E402

CLI = [sys.executable, "-m", "pipelines"]


def write_inbox(folder: Path, files: int) -> None:
    rows = "".join(f"ST{n},FW26,BLK,S,{n:012d}\n" for n in range(50))
    (folder / "styles_20260101T000000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,upc\n" + rows
    )
    start = datetime(2026, 1, 2)
    for n in range(files):
        stamp = (start + timedelta(minutes=n)).strftime("%Y%m%dT%H%M%S")
        (folder / f"inventory_{stamp}.csv").write_text(
            f"upc,quantity\n{n % 50:012d},{n}\n{(n + 7) % 50:012d},{n % 9}\n"
        )


def timed(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{' '.join(args[2:4])} failed: {out.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="stockdrop-many-"))
    scratch.chmod(0o755)
    sshd = start_sshd(scratch / "sshd")
    try:
        local = scratch / "local"
        local.mkdir()
        write_inbox(local, args.files)
        inbox = sshd.folder("inbox")
        for f in local.iterdir():
            shutil.copy(f, inbox / f.name)
        sshd.give_to_user(inbox)
        partners = scratch / "partners.yaml"
        partners.write_text(
            "partners:\n  acme:\n    account: acme\n"
            f"    source: sftp://{sshd.user}@{sshd.host}:{sshd.port}{inbox}\n"
            f"    known_hosts: {sshd.known_hosts}\n    private_key_file: {sshd.client_key_file}\n    settle_s: 0\n"
            f"    exports: {{dir: {scratch / 'exports'}}}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKDROP_", "DAGSTER_"))}
        replay = timed([*CLI, "replay", str(local), "--store", f"sqlite:///{scratch / 'r.db'}"],
                       {**env, "STOCKDROP_DATA_DIR": str(scratch / "r-data")})  # fmt: skip
        sync = timed([*CLI, "sync", "--partners", str(partners), "--store", f"sqlite:///{scratch / 's.db'}"],
                     {**env, "STOCKDROP_DATA_DIR": str(scratch / "s-data")})  # fmt: skip
        n = args.files + 1
        print(f"{n} files: replay (local folder) {replay:.1f} s ({replay / n * 1000:.0f} ms/file); "
              f"sync (SFTP) {sync:.1f} s ({sync / n * 1000:.0f} ms/file); "
              f"sync / replay = {sync / replay:.2f}× (target ≤ 2×)")  # fmt: skip
    finally:
        sshd.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
