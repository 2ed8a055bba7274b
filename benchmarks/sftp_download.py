"""Download speed of SftpDropSource.fetch against OpenSSH's own `sftp` client, on a local sshd.

Run: `.venv/bin/python benchmarks/sftp_download.py [--mb 60] [--runs 3]`. Both sides connect,
authenticate and download the same ~60 MB CSV-like file; the best of N runs each is compared.
The ratio sftp_time / our_time should be at least 0.7.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The sshd helper lives with the integration tests; run from anywhere, import from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.adapters.sftp_source import SftpDropSource  # noqa: E402
from tests.integration.sshd_server import SshdHandle, start_sshd  # noqa: E402

TARGET_RATIO = 0.7


def write_inventory_csv(path: Path, size: int) -> None:
    """An inventory-like CSV of about `size` bytes (distinct rows, so nothing compresses trivially)."""
    with open(path, "wb") as f:
        f.write(b"upc,style_number,style_identifier,color_code,size_name,warehouse_code,quantity\n")
        written, i = 0, 0
        while written < size:
            row = b"%012d,ST-%06d,FW26,%03d,%s,WH%02d,%d\n" % (
                i,
                i // 12,
                i % 40,
                (b"XS", b"S", b"M", b"L")[i % 4],
                i % 7,
                i % 500,
            )
            f.write(row)
            written += len(row)
            i += 1


def time_openssh_sftp(sshd: SshdHandle, remote: Path, local: Path) -> float:
    batch = local.parent / "get.batch"
    batch.write_text(f'get "{remote}" "{local}"\n')
    command = [
        "sftp",
        "-q",
        "-b",
        str(batch),
        "-o",
        f"UserKnownHostsFile={sshd.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(sshd.client_key_file),
        "-P",
        str(sshd.port),
        f"{sshd.user}@{sshd.host}",
    ]
    local.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_our_fetch(sshd: SshdHandle, remote: Path, landing: Path) -> tuple[float, str]:
    """Connect, authenticate and fetch with a fresh source, as a run does."""
    for old in landing.glob("*"):
        old.unlink()
    started = time.perf_counter()
    with SftpDropSource(
        host=sshd.host,
        port=sshd.port,
        username=sshd.user,
        path=str(remote.parent),
        known_hosts=sshd.known_hosts,
        private_key_file=sshd.client_key_file,
    ) as source:
        landed = source.fetch(remote.name, landing)
    return time.perf_counter() - started, landed.sha256


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=60, help="file size in MB")
    parser.add_argument("--runs", type=int, default=3, help="runs per client; the best counts")
    args = parser.parse_args()

    sshd = start_sshd(Path(tempfile.mkdtemp(prefix="stockdrop-bench-sshd-")))
    try:
        inbox = sshd.folder("inbox")
        remote = inbox / "inventory_20261102T080000.csv"
        write_inventory_csv(remote, args.mb * 1_000_000)
        expected = hashlib.sha256(remote.read_bytes()).hexdigest()
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            landing = scratch / "landing"
            openssh_s = min(time_openssh_sftp(sshd, remote, scratch / "sftp-copy") for _ in range(args.runs))
            ours = [time_our_fetch(sshd, remote, landing) for _ in range(args.runs)]
        our_s = min(seconds for seconds, _ in ours)
        if any(sha != expected for _, sha in ours):
            print("FAIL: a landed file's sha256 differs from the source", file=sys.stderr)
            return 1
        ratio = openssh_s / our_s
        size_mb = remote.stat().st_size / 1e6
        print(f"file: {size_mb:.1f} MB, best of {args.runs}, connect + authenticate + download")
        print(f"OpenSSH sftp get:        {openssh_s:.3f} s ({size_mb / openssh_s:.0f} MB/s)")
        print(f"SftpDropSource.fetch:    {our_s:.3f} s ({size_mb / our_s:.0f} MB/s)")
        print(f"ratio sftp/ours:         {ratio:.2f} (target >= {TARGET_RATIO})")
        return 0 if ratio >= TARGET_RATIO else 2
    finally:
        sshd.stop()


if __name__ == "__main__":
    sys.exit(main())
