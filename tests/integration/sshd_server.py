"""A real OpenSSH sshd on 127.0.0.1 for the SFTP tests and the download benchmark.

`start_sshd(workdir)` starts one with its own host key, client keys and login user and returns an
`SshdHandle`; `SshdHandle.stop()` ends it. The pytest fixture `sshd` wraps both (one server per
test session). When running as root, the login user is a throwaway system user created for the
session, because root ignores file permissions and the permission-denied case needs them honoured.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["SshdHandle", "SshdUnavailable", "find_sshd", "start_sshd", "sshd"]

START_TIMEOUT_S = 10.0


class SshdUnavailable(RuntimeError):
    """OpenSSH's sshd or ssh-keygen is not installed here."""


@dataclass
class SshdHandle:
    """A running sshd and everything a client needs to reach it.

    Attributes:
        host: Address sshd listens on.
        port: Its port.
        user: The login user.
        password: The login user's password, or None when password login is not set up (not root).
        known_hosts: A known_hosts file holding the server's real host key.
        client_key_file: Path of an authorised ed25519 private key (OpenSSH format).
        client_key_pem: The same key's text.
        rsa_key_pem: An authorised RSA key in classic PEM format (`BEGIN RSA PRIVATE KEY`).
        root: A folder the login user owns; create inboxes and outboxes with `folder()`.
        log_file: sshd's log (LogLevel VERBOSE; internal-sftp logs each open and rename).
    """

    host: str
    port: int
    user: str
    password: str | None
    known_hosts: Path
    client_key_file: Path
    client_key_pem: str
    rsa_key_pem: str
    root: Path
    log_file: Path
    workdir: Path
    process: subprocess.Popen
    created_user: bool = False
    _folders: int = field(default=0, repr=False)

    @property
    def host_port(self) -> str:
        return f"[{self.host}]:{self.port}"

    def folder(self, prefix: str) -> Path:
        """Create a fresh folder under `root`, owned by the login user so it can rename and write there."""
        self._folders += 1
        path = self.root / f"{prefix}-{self._folders}"
        path.mkdir()
        self.give_to_user(path)
        return path

    def give_to_user(self, path: Path) -> None:
        if self.created_user:
            shutil.chown(path, user=self.user, group=self.user)

    def session_pids(self) -> list[int]:
        """PIDs of the per-connection sshd processes (every descendant of the listening sshd)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces and parentheses; the ppid follows the last ')'.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found: list[int] = []
        todo = [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def kill_sessions(self) -> int:
        """SIGKILL every open connection's sshd processes (the listener stays up); return how many."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        """Stop sshd and its sessions, drop the session user, remove the work folder."""
        self.kill_sessions()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.created_user:
            subprocess.run(["userdel", self.user], check=False, capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def find_sshd() -> str:
    """Path of the sshd binary (sshd insists on being started by absolute path)."""
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if candidate and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    raise SshdUnavailable("OpenSSH sshd is not installed (run scripts/install-test-services as root)")


def _keygen(path: Path, kind: str, *extra: str) -> None:
    if not shutil.which("ssh-keygen"):
        raise SshdUnavailable("ssh-keygen is not installed")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "stockdrop-test", *extra, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _create_login_user(home: Path) -> tuple[str, str]:
    """A throwaway system user with a random password (sshd refuses locked accounts)."""
    user = f"sdsftp{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            str(home),
            "--shell",
            "/bin/sh",
            user,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True, capture_output=True)
    return user, password


def _wait_for_banner(host: str, port: int, process: subprocess.Popen, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def start_sshd(workdir: Path) -> SshdHandle:
    """Start sshd on a free port of 127.0.0.1 with everything generated under `workdir`.

    Args:
        workdir: An empty folder; it is made traversable for the login user.

    Returns:
        The running server.

    Raises:
        SshdUnavailable: sshd or ssh-keygen is missing.
        RuntimeError: sshd did not come up (its log is in the message).
    """
    sshd_bin = find_sshd()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # sshd reads authorized_keys as the login user, so every folder on the way must be traversable.
    workdir.chmod(0o755)
    host_key = workdir / "ssh_host_ed25519_key"
    client_key = workdir / "client_ed25519"
    rsa_key = workdir / "client_rsa"
    _keygen(host_key, "ed25519")
    _keygen(client_key, "ed25519")
    _keygen(rsa_key, "rsa", "-b", "2048", "-m", "PEM")
    authorized = workdir / "authorized_keys"
    authorized.write_text(Path(str(client_key) + ".pub").read_text() + Path(str(rsa_key) + ".pub").read_text())
    authorized.chmod(0o644)
    root = workdir / "data"
    root.mkdir()

    is_root = os.geteuid() == 0
    if is_root:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation chroot
        user, password = _create_login_user(root)
        shutil.chown(root, user=user, group=user)
    else:
        import pwd

        user, password = pwd.getpwuid(os.getuid()).pw_name, None

    log_file = workdir / "sshd.log"
    host = "127.0.0.1"
    handle = None
    try:
        for _ in range(5):  # another process may grab the free port before sshd binds it
            port = _free_port()
            config = workdir / "sshd_config"
            config.write_text(
                f"""\
Port {port}
ListenAddress {host}
HostKey {host_key}
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {authorized}
StrictModes no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication {"yes" if password else "no"}
KbdInteractiveAuthentication no
UsePAM no
AllowUsers {user}
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
Subsystem sftp internal-sftp -l INFO
"""
            )
            log_file.write_text("")
            process = subprocess.Popen(
                [sshd_bin, "-D", "-f", str(config), "-E", str(log_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if _wait_for_banner(host, port, process, time.monotonic() + START_TIMEOUT_S):
                break
            process.kill()
            process.wait()
        else:
            raise RuntimeError(f"sshd did not start; its log:\n{log_file.read_text()}")

        known_hosts = workdir / "known_hosts"
        key_type, key_b64 = Path(str(host_key) + ".pub").read_text().split()[:2]
        known_hosts.write_text(f"[{host}]:{port} {key_type} {key_b64}\n")
        handle = SshdHandle(
            host=host,
            port=port,
            user=user,
            password=password,
            known_hosts=known_hosts,
            client_key_file=client_key,
            client_key_pem=client_key.read_text(),
            rsa_key_pem=rsa_key.read_text(),
            root=root,
            log_file=log_file,
            workdir=workdir,
            process=process,
            created_user=is_root,
        )
        return handle
    finally:
        if handle is None and is_root:
            subprocess.run(["userdel", user], check=False, capture_output=True)


@pytest.fixture(scope="session")
def sshd():
    """A real OpenSSH sshd for the whole test session (skipped without sshd, a failure under CI=true)."""
    try:
        find_sshd()
    except SshdUnavailable as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {e}", pytrace=False)
        pytest.skip(str(e))
    handle = start_sshd(Path(tempfile.mkdtemp(prefix="stockdrop-sshd-")))
    yield handle
    handle.stop()
