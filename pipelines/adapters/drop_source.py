"""The drop-source interface (list, fetch, after-processing, outbox) and the local-folder source.

Listing is separate from reading and the two meet in a `RemoteFile` record, so a sensor tick
only lists (one directory read) and a run only fetches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipelines.adapters.failures import MachineryFailure, one_line
from pipelines.domain.drop_names import is_fetchable_name, is_in_progress, is_safe_name

CHUNK = 1 << 20


class DropSourceError(RuntimeError):
    """A source could not be listed or read (connection, host key, credentials, permissions)."""


class SourceUnreachable(DropSourceError):
    """The source could not be reached (connection refused, DNS, timeouts) after every attempt: a
    machinery failure (exit 1), not a mistake in what the operator asked for."""


class FileStillChanging(DropSourceError):
    """The file no longer has the size (or mtime) it was listed with: it is taken on a later poll."""


@dataclass(frozen=True)
class RemoteFile:
    """One entry of a listing."""

    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class LandedFile:
    """A file copied into the landing folder under its sha256."""

    name: str
    path: Path
    sha256: str
    size: int


class DropSource(Protocol):
    def list_files(self) -> list[RemoteFile]:
        """Every candidate file in the inbox (in-progress names and markers left out)."""

    def fetch(self, name: str, landing_dir: Path, size: int | None = None) -> LandedFile:
        """Copy `name` into `landing_dir/<sha256>` atomically, reading no more than the `size` it
        was listed with (FileStillChanging when it differs now)."""

    def after_processing(self, name: str, rejected: bool) -> None:
        """Move a processed file to `processed/` or `rejected/` when the partner asks for it."""

    def upload(self, local: Path, remote_name: str) -> None:
        """Put a file into the partner's outbox, visible only when complete."""

    def close(self) -> None:
        """Release the connection, if any."""


def landing_path(landing_dir: Path, sha256: str) -> Path:
    return landing_dir / sha256


def check_name(name: str) -> None:
    if not is_safe_name(name):
        raise DropSourceError(f"refusing unsafe remote file name {name!r}: it could escape the landing folder")


def check_fetchable(name: str) -> None:
    """Any entry of the inbox folder itself may be read (it lands under its sha256, never its name)."""
    if not is_fetchable_name(name):
        raise DropSourceError(f"refusing to read {name!r}: not a plain entry of the inbox folder")


def copy_exactly(read, out, size: int, name: str) -> None:
    """Copy `size` bytes from `read(n)` to `out`; FileStillChanging when the file ends sooner."""
    remaining = size
    while remaining:
        data = read(min(CHUNK, remaining))
        if not data:
            raise FileStillChanging(f"{name!r} shrank while it was read; it is taken on a later poll")
        out.write(data)
        remaining -= len(data)


def listable(name: str, ready_marker: str | None, names: set[str]) -> bool:
    """Whether a listed name is a candidate: not in progress, not a marker, marker present if required."""
    if is_in_progress(name):
        return False
    if ready_marker:
        if name.endswith(ready_marker):
            return False
        return name + ready_marker in names
    return True


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, out):
        self.out, self.digest, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        try:
            return self.out.write(data)
        except OSError as e:  # our disk, not the partner's file: the run fails, nothing is rejected
            raise MachineryFailure(f"landing a file: {one_line(e)}") from None


def land_stream(read_into, landing_dir: Path, name: str) -> LandedFile:
    """Stream a file through `read_into(fileobj)` into a temp file in the landing folder, hashing
    it on the way, then rename it to its sha256. A failure leaves nothing behind.

    `read_into` must write the bytes in order (copyfileobj and paramiko's getfo do).
    """
    landing_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=landing_dir, prefix=".landing-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _HashingWriter(out)
            read_into(writer)
        sha = writer.digest.hexdigest()
        final = landing_path(landing_dir, sha)
        os.replace(tmp, final)
        return LandedFile(name=name, path=final, sha256=sha, size=writer.size)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalDropSource:
    """A local folder as an inbox (the embedded default, and `replay`)."""

    def __init__(self, folder: str | Path, ready_marker: str | None = None, after_processing: str = "leave"):
        self.folder = Path(folder)
        self.ready_marker = ready_marker
        self.after_processing_mode = after_processing

    def list_files(self) -> list[RemoteFile]:
        if not self.folder.is_dir():
            raise DropSourceError(f"inbox folder {str(self.folder)!r} does not exist")
        entries = [e for e in os.scandir(self.folder) if e.is_file(follow_symlinks=False)]
        names = {e.name for e in entries}
        out = []
        for e in entries:
            if listable(e.name, self.ready_marker, names):
                st = e.stat(follow_symlinks=False)
                out.append(RemoteFile(e.name, st.st_size, st.st_mtime))
        return sorted(out, key=lambda f: f.name)

    def fetch(self, name: str, landing_dir: Path, size: int | None = None) -> LandedFile:
        check_fetchable(name)
        src = self.folder / name
        try:
            with open(src, "rb") as f:
                before = os.fstat(f.fileno())
                expected = before.st_size if size is None else size
                if before.st_size != expected:
                    raise FileStillChanging(f"{name!r} changed size since it was listed; it is taken on a later poll")

                def read_into(out) -> None:
                    copy_exactly(f.read, out, expected, name)
                    if os.fstat(f.fileno()).st_size != expected:
                        raise FileStillChanging(f"{name!r} grew while it was read; it is taken on a later poll")

                return land_stream(read_into, landing_dir, name)
        except OSError as e:
            raise DropSourceError(f"cannot read {name!r} from {str(self.folder)!r}: {e.strerror}") from e

    def after_processing(self, name: str, rejected: bool) -> None:
        if self.after_processing_mode != "move":
            return
        check_name(name)
        target = self.folder / ("rejected" if rejected else "processed")
        target.mkdir(exist_ok=True)
        os.replace(self.folder / name, target / name)

    def close(self) -> None:
        """A folder holds no connection."""

    def upload(self, local: Path, remote_name: str) -> None:
        check_name(remote_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self.folder / (remote_name + ".part")
        shutil.copyfile(local, part)
        os.replace(part, self.folder / remote_name)
