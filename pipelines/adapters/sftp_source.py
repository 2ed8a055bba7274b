"""A partner's SFTP account as a drop source (paramiko): list, fetch, after-processing, outbox upload.

Host keys are always verified against the partner's known_hosts file: an unknown or changed key
stops the connection before anything is read. Dropped connections are retried with backoff
(tenacity), reconnecting each attempt; a download lands whole or not at all.

One `SftpDropSource` holds at most one connection, opened lazily and reused until `close()` (or
the end of a `with` block). It is not thread-safe: give each thread or run its own instance.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import posixpath
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import paramiko
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from pipelines.adapters.drop_source import (
    DropSourceError,
    FileStillChanging,
    LandedFile,
    RemoteFile,
    SourceUnreachable,
    check_fetchable,
    check_name,
    copy_exactly,
    land_stream,
    listable,
)
from pipelines.domain.partners import EnvRef, PartnerSpec

log = logging.getLogger(__name__)

T = TypeVar("T")

AFTER_PROCESSING_MODES = ("leave", "move")
PROCESSED_FOLDER = "processed"
REJECTED_FOLDER = "rejected"
UPLOAD_SUFFIX = ".part"


class _ConnectionLost(Exception):
    """An operation failed because the connection under it went away; worth another attempt."""


class _RejectUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising an error that names the host and the offered key's fingerprint."""

    def missing_host_key(self, client, hostname, key):
        raise DropSourceError(
            f"host key of {hostname} is not in known_hosts (offered {key.get_name()} {key.fingerprint}); "
            "refusing to connect. Add the partner's host key to the known_hosts file after checking it with them."
        )


def _is_transient(error: BaseException) -> bool:
    """Network trouble that another attempt on a fresh connection may cure."""
    if isinstance(error, (paramiko.AuthenticationException, paramiko.BadHostKeyException, DropSourceError)):
        return False
    return isinstance(
        error,
        (
            _ConnectionLost,
            EOFError,
            paramiko.SSHException,
            TimeoutError,
            ConnectionError,
            paramiko.ssh_exception.NoValidConnectionsError,
        ),
    )


def _load_private_key(pem: str) -> paramiko.PKey:
    """A key from its text, whatever its type (OpenSSH or classic PEM; unencrypted)."""
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(pem))
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    raise DropSourceError("the private key is not an unencrypted ed25519, ECDSA or RSA key in OpenSSH or PEM format")


class SftpDropSource:
    """A partner's inbox (and outbox) folder on an SFTP server.

    Args:
        host: SFTP server name or address.
        port: SSH port.
        username: Login name.
        path: The inbox folder on the server.
        known_hosts: Path of a known_hosts file holding the server's host key (required: keys are
            always verified).
        private_key: Private key text (OpenSSH or PEM format, unencrypted).
        private_key_file: Path of a private key file, used when `private_key` is not given.
        password: Login password (alone, or as a second factor after the key).
        ready_marker: When set (e.g. ``.done``), a file is listed only once ``<name><marker>`` exists.
        after_processing: ``leave`` or ``move`` (to ``processed/`` or ``rejected/`` under the inbox).
        outbox: Folder on the server that `upload` writes to.
        timeout_s: Connect, authentication and per-read timeout.
        attempts: Tries per operation when the connection drops (1 = no retry).
        backoff_s: First wait between tries; it doubles each time, at most 30 s.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 22,
        username: str,
        path: str,
        known_hosts: str | os.PathLike | None,
        private_key: str | None = None,
        private_key_file: str | os.PathLike | None = None,
        password: str | None = None,
        ready_marker: str | None = None,
        after_processing: str = "leave",
        outbox: str | None = None,
        timeout_s: float = 30,
        attempts: int = 4,
        backoff_s: float = 1.0,
    ):
        if not known_hosts:
            raise DropSourceError(
                f"sftp://{username}@{host}:{port}: known_hosts is required (host keys are always verified)"
            )
        if not (private_key or private_key_file or password):
            raise DropSourceError(
                f"sftp://{username}@{host}:{port}: no credentials (private_key, private_key_file or password)"
            )
        if after_processing not in AFTER_PROCESSING_MODES:
            raise DropSourceError(f"after_processing must be one of {AFTER_PROCESSING_MODES}, not {after_processing!r}")
        if attempts < 1:
            raise DropSourceError(f"attempts must be at least 1, not {attempts}")
        self.host = host
        self.port = int(port)
        self.username = username
        self.path = path
        self.known_hosts = str(known_hosts)
        self.ready_marker = ready_marker
        self.after_processing_mode = after_processing
        self.outbox = outbox
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        # Secrets live only in these private fields: never in messages, logs or repr.
        self._private_key = private_key
        self._private_key_file = str(private_key_file) if private_key_file else None
        self._password = password
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    @classmethod
    def from_spec(cls, spec: PartnerSpec, resolve: Callable[[EnvRef], str], **overrides) -> SftpDropSource:
        """Build the source of a partner whose `source` is ``sftp://user@host[:port]/path``.

        Args:
            spec: The partner's settings.
            resolve: Turns an `EnvRef` into its secret (the resources module reads the environment).
            **overrides: Constructor arguments to set beyond the spec (e.g. ``timeout_s``).
        """
        url = urlsplit(spec.source)
        if url.password:
            raise DropSourceError(
                f"partner {spec.name!r}: put the password in `password: {{env: ...}}`, not in the source URL"
            )
        if url.scheme != "sftp" or not url.hostname:
            raise DropSourceError(f"partner {spec.name!r}: source {spec.source!r} is not sftp://user@host[:port]/path")
        if not url.username:
            raise DropSourceError(
                f"partner {spec.name!r}: source {spec.source!r} names no user (sftp://user@host/path)"
            )
        try:
            port = url.port or 22
        except ValueError as e:
            raise DropSourceError(f"partner {spec.name!r}: bad port in source {spec.source!r}") from e
        kwargs = dict(
            host=url.hostname,
            port=port,
            username=unquote(url.username),
            path=unquote(url.path) or ".",
            known_hosts=spec.known_hosts,
            private_key=resolve(spec.private_key) if spec.private_key else None,
            private_key_file=spec.private_key_file,
            password=resolve(spec.password) if spec.password else None,
            ready_marker=spec.ready_marker,
            after_processing=spec.after_processing,
            outbox=spec.exports.outbox,
        )
        kwargs.update(overrides)
        try:
            return cls(**kwargs)
        except DropSourceError as e:
            raise DropSourceError(f"partner {spec.name!r}: {e}") from None

    @property
    def where(self) -> str:
        """The server as a user sees it in messages: ``user@host:port``."""
        return f"{self.username}@{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"SftpDropSource(sftp://{self.where}{self.path})"

    # Connection

    def __enter__(self) -> SftpDropSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, if any (the next operation opens a new one)."""
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        for closable in (sftp, client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # a dead connection may fail to close; it is dropped either way
                    pass

    def _connected(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return bool(self._sftp and transport and transport.is_active())

    def _pkey(self) -> paramiko.PKey | None:
        if self._private_key:
            return _load_private_key(self._private_key)
        if self._private_key_file:
            try:
                return paramiko.PKey.from_path(self._private_key_file)
            except FileNotFoundError:
                raise DropSourceError(f"private key file {self._private_key_file!r} does not exist") from None
            except (paramiko.SSHException, ValueError, TypeError, OSError):
                raise DropSourceError(
                    f"private key file {self._private_key_file!r} is not an unencrypted ed25519, ECDSA or RSA key"
                ) from None
        return None

    def _sftp_client(self) -> paramiko.SFTPClient:
        """The open SFTP session, connecting (and verifying the host key) when there is none."""
        if self._connected():
            return self._sftp
        self.close()
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(self.known_hosts)
        except OSError as e:
            raise DropSourceError(f"cannot read known_hosts file {self.known_hosts!r}: {e.strerror or e}") from None
        except Exception as e:  # paramiko raises whatever a malformed line trips over
            raise DropSourceError(
                f"known_hosts file {self.known_hosts!r} is not an OpenSSH known_hosts file "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'})"
            ) from None
        client.set_missing_host_key_policy(_RejectUnknownHost())
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.username,
                pkey=self._pkey(),
                password=self._password,
                look_for_keys=False,
                allow_agent=False,
                timeout=self.timeout_s,
                banner_timeout=self.timeout_s,
                auth_timeout=self.timeout_s,
                channel_timeout=self.timeout_s,
            )
            sftp = client.open_sftp()
            # Without a timeout a stalled server would hang a read forever instead of being retried.
            sftp.get_channel().settimeout(self.timeout_s)
        except paramiko.BadHostKeyException as e:
            client.close()
            raise DropSourceError(
                f"host key of {self.host}:{self.port} has CHANGED: it offered {e.key.get_name()} {e.key.fingerprint}, "
                f"known_hosts {self.known_hosts!r} expects {e.expected_key.get_name()} {e.expected_key.fingerprint}. "
                "Refusing to connect; confirm the new key with the partner before updating known_hosts."
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise DropSourceError(
                f"authentication failed for {self.where}: the server refused the configured key/password"
            ) from None
        except BaseException:
            client.close()
            raise
        self._client, self._sftp = client, sftp
        return sftp

    def _with_retry(self, what: str, operation: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run `operation` on a live SFTP session, reconnecting and retrying when the connection drops."""

        def attempt() -> T:
            sftp = self._sftp_client()
            try:
                return operation(sftp)
            except (PermissionError, FileNotFoundError, FileExistsError):
                raise
            except Exception as e:
                if not _is_transient(e) and isinstance(e, OSError) and not self._connected():
                    raise _ConnectionLost(str(e) or type(e).__name__) from e
                if _is_transient(e):
                    self.close()
                raise

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s on %s: attempt %d of %d failed (%s: %s); reconnecting in %.2f s",
                what,
                self.where,
                state.attempt_number,
                self.attempts,
                type(error).__name__,
                error,
                state.next_action.sleep if state.next_action else 0,
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=30),
            retry=retry_if_exception(_is_transient),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except DropSourceError:
            raise
        except Exception as e:
            if _is_transient(e):
                raise SourceUnreachable(
                    f"{what} on {self.where} failed after {self.attempts} attempt(s): {type(e).__name__}: {e}"
                ) from e
            raise

    # DropSource

    def list_files(self) -> list[RemoteFile]:
        """Every candidate regular file in the inbox, from one directory read (no per-file stat).

        In-progress names (``.part`` and friends, hidden files) and ready markers are left out.
        Names that are not safe to land (see `check_name`) ARE listed, so the pipeline can report
        them as rejects; `fetch` refuses them.
        """

        def read_inbox(sftp: paramiko.SFTPClient) -> list[paramiko.SFTPAttributes]:
            return sftp.listdir_attr(self.path)

        try:
            entries = self._with_retry(f"listing {self.path!r}", read_inbox)
        except PermissionError:
            raise DropSourceError(f"permission denied listing {self.path!r} on {self.where}") from None
        except FileNotFoundError:
            raise DropSourceError(f"inbox folder {self.path!r} does not exist on {self.where}") from None
        except OSError as e:
            raise DropSourceError(f"cannot list {self.path!r} on {self.where}: {e}") from None
        files = [e for e in entries if e.st_mode is not None and stat.S_ISREG(e.st_mode)]
        names = {e.filename for e in files}
        return sorted(
            (
                RemoteFile(e.filename, int(e.st_size or 0), float(e.st_mtime or 0))
                for e in files
                if listable(e.filename, self.ready_marker, names)
            ),
            key=lambda f: f.name,
        )

    def fetch(self, name: str, landing_dir: Path, size: int | None = None) -> LandedFile:
        """Download `name` from the inbox into ``landing_dir/<sha256>``, whole or not at all.

        Never reads past `size` (the size it was listed with): a file whose size or mtime changed
        since, or changes during the download, raises FileStillChanging and leaves nothing behind.

        Raises:
            DropSourceError: not an entry of the inbox, permission denied, file gone, or the
                connection kept dropping for `attempts` tries.
        """
        check_fetchable(name)
        remote = posixpath.join(self.path, name)

        def read_into(sftp: paramiko.SFTPClient, out) -> None:
            with sftp.open(remote, "rb") as f:
                before = f.stat()
                expected = int(before.st_size or 0) if size is None else size
                if before.st_size != expected:
                    raise FileStillChanging(f"{name!r} changed size since it was listed; it is taken on a later poll")
                # prefetch of exactly the listed range: reads at getfo's speed (a plain read()
                # loop is ~25x slower, paramiko #2453) and never follows a file that keeps growing.
                f.prefetch(expected)
                copy_exactly(f.read, out, expected, name)
                after = f.stat()
                if after.st_size != expected or after.st_mtime != before.st_mtime:
                    raise FileStillChanging(f"{name!r} changed while it was read; it is taken on a later poll")

        def download(sftp: paramiko.SFTPClient) -> LandedFile:
            return land_stream(lambda out: read_into(sftp, out), Path(landing_dir), name)

        try:
            return self._with_retry(f"downloading {name!r}", download)
        except PermissionError:
            raise DropSourceError(f"permission denied reading {name!r} in {self.path!r} on {self.where}") from None
        except FileNotFoundError:
            raise DropSourceError(f"{name!r} is no longer in {self.path!r} on {self.where}") from None
        except OSError as e:
            raise DropSourceError(f"cannot download {name!r} from {self.where}: {e}") from None

    def after_processing(self, name: str, rejected: bool) -> None:
        """With ``after_processing="move"``, move `name` into ``processed/`` or ``rejected/`` (created when missing).

        Call only once the landing is committed: the inbox copy is then no longer needed.
        """
        if self.after_processing_mode != "move":
            return
        check_name(name)
        folder = posixpath.join(self.path, REJECTED_FOLDER if rejected else PROCESSED_FOLDER)

        def move(sftp: paramiko.SFTPClient) -> None:
            self._ensure_folder(sftp, folder)
            # posix-rename replaces an earlier file of the same name (a re-sent file processed again).
            sftp.posix_rename(posixpath.join(self.path, name), posixpath.join(folder, name))
            if self.ready_marker:
                # A marker left behind would make the next upload of this name look ready too early.
                marker = name + self.ready_marker
                try:
                    sftp.posix_rename(posixpath.join(self.path, marker), posixpath.join(folder, marker))
                except FileNotFoundError:
                    pass

        try:
            self._with_retry(f"moving {name!r} to {folder!r}", move)
        except PermissionError:
            raise DropSourceError(f"permission denied moving {name!r} to {folder!r} on {self.where}") from None
        except FileNotFoundError:
            raise DropSourceError(f"cannot move {name!r}: it is no longer in {self.path!r} on {self.where}") from None
        except OSError as e:
            raise DropSourceError(f"cannot move {name!r} to {folder!r} on {self.where}: {e}") from None

    def upload(self, local: Path, remote_name: str) -> None:
        """Put `local` into the outbox as `remote_name`, replacing any earlier file of that name.

        The bytes go to ``<remote_name>.part`` first and are renamed (posix-rename) once complete,
        so a partner listing the outbox never sees a partial file under the final name.
        """
        if not self.outbox:
            raise DropSourceError(f"no outbox configured for {self!r}")
        check_name(remote_name)
        final = posixpath.join(self.outbox, remote_name)
        part = final + UPLOAD_SUFFIX
        local = Path(local)

        def put(sftp: paramiko.SFTPClient) -> None:
            try:
                with open(local, "rb") as f:
                    sftp.putfo(f, part, file_size=local.stat().st_size, confirm=True)
                sftp.posix_rename(part, final)
            except BaseException:
                self._remove_quietly(sftp, part)
                raise

        try:
            self._with_retry(f"uploading {remote_name!r}", put)
        except PermissionError:
            raise DropSourceError(f"permission denied writing {part!r} on {self.where}") from None
        except FileNotFoundError:
            raise DropSourceError(f"outbox folder {self.outbox!r} does not exist on {self.where}") from None
        except OSError as e:
            raise DropSourceError(f"cannot upload {remote_name!r} to {self.outbox!r} on {self.where}: {e}") from None

    @staticmethod
    def _ensure_folder(sftp: paramiko.SFTPClient, folder: str) -> None:
        try:
            sftp.mkdir(folder)
        except OSError as mkdir_error:
            # SFTP v3 reports an existing folder as a bare "Failure": accept it only if it is a folder.
            try:
                existing = sftp.stat(folder)
            except OSError:
                raise mkdir_error from None
            if not stat.S_ISDIR(existing.st_mode or 0):
                raise DropSourceError(f"{folder!r} exists on the server but is not a folder") from None

    def _remove_quietly(self, sftp: paramiko.SFTPClient, path: str) -> None:
        if not self._connected():
            return  # a partial upload the lost connection left behind is overwritten by the next try
        try:
            sftp.remove(path)
        except OSError as e:
            if e.errno != errno.ENOENT:
                log.warning("could not remove partial upload %r on %s: %s", path, self.where, e)
