"""SftpDropSource against a real OpenSSH sshd: listing, landing, retries, host keys, credentials, outbox."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest

from pipelines.adapters.drop_source import DropSourceError, FileStillChanging
from pipelines.adapters.sftp_source import SftpDropSource
from pipelines.domain.partners import EnvRef, ExportTargets, PartnerSpec
from pipelines.domain.settle import observe

pytestmark = pytest.mark.integration

EVERY_KIND = {
    "warehouses_20261101T000000.csv": b"warehouse_code,name,type\nNYC,New York,IMMEDIATE\n",
    "linesheets_20261101T000000.csv": b"linesheet_code,name,made_to_order\nFW26,Fall 26,false\n",
    "styles_20261101T120000.csv": b"style_number,style_identifier,color_code,size_name,upc\nS1,A,001,M,000123456789\n",
    "inventory_20261102T080000.csv": b"upc,warehouse_code,quantity\n000123456789,NYC,10\n",
    "inventory_20261122T030000_overwrite-decpending.csv": b"upc,quantity\n000123456789,3\n",
    "orders_20261102T090000.csv": b"order_id,upc,quantity,status,order_date\nO1,000123456789,2,Pending,2026-11-02\n",
    "inventory_20261103T080000.csv.gz": gzip.compress(b"upc,warehouse_code,quantity\n000123456789,NYC,7\n"),
}


@pytest.fixture
def make_source(sshd):
    """A factory of sources on the session's sshd; every source it made is closed after the test."""
    made: list[SftpDropSource] = []

    def make(inbox: Path, **overrides) -> SftpDropSource:
        settings = dict(
            host=sshd.host,
            port=sshd.port,
            username=sshd.user,
            path=str(inbox),
            known_hosts=sshd.known_hosts,
            private_key=sshd.client_key_pem,
            timeout_s=10,
            backoff_s=0.05,
        )
        settings.update(overrides)
        source = SftpDropSource(**settings)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


@pytest.fixture
def inbox(sshd):
    return sshd.folder("inbox")


def drop(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def csv_bytes(size: int) -> bytes:
    """CSV-like bytes of about `size` that do not repeat in step with SFTP's 32 KiB reads."""
    rows = b"".join(b"%012d,STYLE-%d,%03d,M,%d,NYC\n" % (i, i % 977, i % 13, i % 50) for i in range(size // 30 + 1))
    return b"upc,style_number,color_code,size_name,quantity,warehouse_code\n" + rows[:size]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def host_key_fingerprint(sshd) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(sshd.workdir / "ssh_host_ed25519_key.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[1]  # "256 SHA256:... comment (ED25519)"


def watcher_sftp(sshd) -> paramiko.SFTPClient:
    """An independent paramiko client, standing for the partner looking at the outbox."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(sshd.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        sshd.host,
        port=sshd.port,
        username=sshd.user,
        key_filename=str(sshd.client_key_file),
        look_for_keys=False,
        allow_agent=False,
    )
    return client.open_sftp()


# Listing and landing


def test_lists_every_kind_and_leaves_out_uploads_in_progress_and_folders(sshd, inbox, make_source):
    for name, content in EVERY_KIND.items():
        drop(inbox, name, content)
    drop(inbox, "inventory_20261104T080000.csv.part", b"half")
    drop(inbox, ".inventory_20261104T080000.csv", b"hidden")
    (inbox / "archive").mkdir()

    listing = make_source(inbox).list_files()

    assert [f.name for f in listing] == sorted(EVERY_KIND)
    assert {f.name: f.size for f in listing} == {name: len(content) for name, content in EVERY_KIND.items()}
    assert all(f.mtime == int((inbox / f.name).stat().st_mtime) for f in listing)


def test_fetch_lands_each_file_under_its_sha256(tmp_path, inbox, make_source):
    for name, content in EVERY_KIND.items():
        drop(inbox, name, content)
    source = make_source(inbox)
    landing = tmp_path / "landing"

    landed = {f.name: source.fetch(f.name, landing) for f in source.list_files()}

    for name, content in EVERY_KIND.items():
        assert landed[name].sha256 == sha256(content)
        assert landed[name].size == len(content)
        assert landed[name].path == landing / sha256(content)
        assert landed[name].path.read_bytes() == content
    assert files_under(landing) == sorted({sha256(c) for c in EVERY_KIND.values()})


def test_private_key_in_pem_format_and_password_both_log_in(sshd, inbox, make_source):
    drop(inbox, "styles_20261101T120000.csv", b"x\n")
    if sshd.password is None:
        pytest.skip("password login needs the per-session user, which only root can create")

    by_rsa_pem = make_source(inbox, private_key=sshd.rsa_key_pem).list_files()
    by_key_file = make_source(inbox, private_key=None, private_key_file=sshd.client_key_file).list_files()
    by_password = make_source(inbox, private_key=None, password=sshd.password).list_files()

    assert (
        [f.name for f in by_rsa_pem]
        == [f.name for f in by_key_file]
        == [f.name for f in by_password]
        == ["styles_20261101T120000.csv"]
    )


def test_ready_marker_holds_a_file_back_until_the_marker_exists(inbox, make_source):
    drop(inbox, "inventory_20261102T080000.csv", b"a\n")
    drop(inbox, "orders_20261102T090000.csv", b"b\n")
    drop(inbox, "orders_20261102T090000.csv.done", b"")
    source = make_source(inbox, ready_marker=".done")

    assert [f.name for f in source.list_files()] == ["orders_20261102T090000.csv"]

    drop(inbox, "inventory_20261102T080000.csv.done", b"")
    assert [f.name for f in source.list_files()] == ["inventory_20261102T080000.csv", "orders_20261102T090000.csv"]


def test_a_file_still_growing_between_two_listings_is_not_stable(inbox, make_source):
    growing = drop(inbox, "inventory_20261102T080000.csv", b"upc,quantity\n")
    drop(inbox, "styles_20261101T120000.csv", b"style_number\nS1\n")
    source = make_source(inbox)
    settle_s = 30

    first = [(f.name, f.size, f.mtime) for f in source.list_files()]
    _, sightings = observe({}, first, now=0, settle_s=settle_s)
    with open(growing, "ab") as f:
        f.write(b"000123456789,10\n")
    second = [(f.name, f.size, f.mtime) for f in source.list_files()]
    stable, sightings = observe(sightings, second, now=settle_s, settle_s=settle_s)

    assert stable == ["styles_20261101T120000.csv"]
    assert sightings["inventory_20261102T080000.csv"].since == settle_s
    assert (
        dict((n, s) for n, s, _ in second)["inventory_20261102T080000.csv"]
        > dict((n, s) for n, s, _ in first)["inventory_20261102T080000.csv"]
    )


# Failures while reading


def test_connection_killed_mid_download_is_retried_into_one_correct_landing(sshd, tmp_path, inbox, make_source):
    content = csv_bytes(48_000_000)
    drop(inbox, "inventory_20261102T080000.csv", content)
    landing = tmp_path / "landing"
    landing.mkdir()
    source = make_source(inbox, attempts=3)
    source.list_files()  # the connection the kill will cut
    killed: list[int] = []

    def kill_sessions_once_the_download_is_under_way():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            partial = [p for p in landing.iterdir() if p.name.endswith(".part")]
            if partial and partial[0].stat().st_size > 4_000_000:
                killed.append(sshd.kill_sessions())
                return
            time.sleep(0.001)

    killer = threading.Thread(target=kill_sessions_once_the_download_is_under_way)
    killer.start()
    landed = source.fetch("inventory_20261102T080000.csv", landing)
    killer.join()

    assert killed and killed[0] > 0, "the download finished before the connection could be killed"
    assert landed.sha256 == sha256(content)
    assert landed.path.read_bytes() == content
    assert files_under(landing) == [sha256(content)]


def test_a_connection_that_keeps_failing_gives_up_after_its_attempts(sshd, tmp_path, inbox, make_source):
    with socket_that_closes_every_connection() as port:
        source = make_source(inbox, port=port, attempts=2, timeout_s=2)
        with pytest.raises(DropSourceError, match=r"after 2 attempt\(s\)"):
            source.fetch("inventory_20261102T080000.csv", tmp_path / "landing")
    assert files_under(tmp_path / "landing") == []


class socket_that_closes_every_connection:
    """A TCP port that accepts and hangs up at once: a server that drops every connection."""

    def __enter__(self) -> int:
        import socket

        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._accepts = threading.Thread(target=self._hang_up, daemon=True)
        self._accepts.start()
        return self._server.getsockname()[1]

    def _hang_up(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            conn.close()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._accepts.join()
        self._server.close()


def test_permission_denied_names_the_file_and_the_others_still_land(sshd, tmp_path, inbox, make_source):
    if os.geteuid() == 0 and not sshd.created_user:
        pytest.skip("root reads every file: permissions need a non-root login user")
    readable = drop(inbox, "inventory_20261102T080000.csv", b"upc,quantity\n1,2\n")
    locked = drop(inbox, "orders_20261102T090000.csv", b"order_id\nO1\n")
    locked.chmod(0)
    source = make_source(inbox)
    landing = tmp_path / "landing"

    with pytest.raises(DropSourceError, match=r"permission denied reading 'orders_20261102T090000.csv'"):
        source.fetch(locked.name, landing)
    landed = source.fetch(readable.name, landing)

    assert landed.sha256 == sha256(readable.read_bytes())
    assert files_under(landing) == [landed.sha256]


def test_a_file_gone_since_the_listing_is_a_clear_error(tmp_path, inbox, make_source):
    with pytest.raises(DropSourceError, match=r"'inventory_20261102T080000.csv' is no longer in"):
        make_source(inbox).fetch("inventory_20261102T080000.csv", tmp_path / "landing")
    assert files_under(tmp_path / "landing") == []


def test_a_missing_inbox_folder_is_a_clear_error(sshd, make_source):
    with pytest.raises(DropSourceError, match=r"inbox folder .*nowhere.* does not exist"):
        make_source(sshd.root / "nowhere").list_files()


@pytest.mark.parametrize(
    "name", ["../x.csv", "../../etc/passwd", "sub/inventory_20261102T080000.csv", "/etc/passwd", "..", "a\x00b"]
)
def test_names_that_are_not_an_entry_of_the_inbox_are_refused(sshd, tmp_path, inbox, make_source, name):
    drop(sshd.root, "x.csv", b"outside the inbox\n")
    landing = tmp_path / "area" / "landing"
    landing.mkdir(parents=True)

    with pytest.raises(DropSourceError, match="refusing to read"):
        make_source(inbox).fetch(name, landing)

    assert files_under(tmp_path) == ["area", "area/landing"]


def test_an_unsafe_name_in_the_inbox_is_listed_and_its_bytes_archived_under_their_sha256(tmp_path, inbox, make_source):
    drop(inbox, "inventory 20261102T080000 (1).csv", b"a\n")
    source = make_source(inbox)

    assert [f.name for f in source.list_files()] == ["inventory 20261102T080000 (1).csv"]
    landed = source.fetch("inventory 20261102T080000 (1).csv", tmp_path / "landing")
    assert files_under(tmp_path / "landing") == [sha256(b"a\n")] and landed.path.read_bytes() == b"a\n"


def test_a_file_that_never_stops_growing_is_never_read_past_its_listed_size(tmp_path, inbox, make_source):
    path = drop(inbox, "inventory_20261102T080000.csv", b"upc,quantity\n")
    stop = threading.Event()

    def keep_writing():
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(b"000123456789,1\n" * 4096)
                f.flush()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        time.sleep(0.2)
        source = make_source(inbox)
        (listed,) = source.list_files()
        with pytest.raises(FileStillChanging):
            source.fetch(listed.name, tmp_path / "landing", listed.size)
    finally:
        stop.set()
        writer.join()
    assert files_under(tmp_path / "landing") == []  # no .part, no landing


def test_a_file_that_stopped_changing_lands_exactly_as_listed(tmp_path, inbox, make_source):
    content = csv_bytes(300_000)
    drop(inbox, "inventory_20261102T080000.csv", content)
    source = make_source(inbox)
    (listed,) = source.list_files()
    landed = source.fetch(listed.name, tmp_path / "landing", listed.size)
    assert (landed.size, landed.sha256) == (len(content), sha256(content))


def test_a_garbage_known_hosts_file_is_one_clear_error(tmp_path, inbox, make_source):
    garbage = tmp_path / "known_hosts"
    garbage.write_bytes(b"garbage line\n\x00\xff\xfe binary\nhost ssh-ed25519 !!!notbase64\n")
    with pytest.raises(DropSourceError, match="is not an OpenSSH known_hosts file") as e:
        make_source(inbox, known_hosts=str(garbage)).list_files()
    assert "\n" not in str(e.value)


# Host keys and credentials


def test_a_changed_host_key_stops_before_anything_is_read(sshd, tmp_path, inbox, make_source):
    drop(inbox, "inventory_20261102T080000.csv", b"a\n")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    key_type, key_b64 = (tmp_path / "impostor.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{sshd.host_port} {key_type} {key_b64}\n")
    landing = tmp_path / "landing"

    with pytest.raises(DropSourceError, match=r"host key of 127\.0\.0\.1:\d+ has CHANGED") as raised:
        make_source(inbox, known_hosts=known_hosts).fetch("inventory_20261102T080000.csv", landing)

    assert host_key_fingerprint(sshd) in str(raised.value)
    assert files_under(landing) == []


def test_an_unknown_host_is_refused_naming_the_offered_key(sshd, tmp_path, inbox, make_source):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")

    with pytest.raises(DropSourceError, match=rf"\[127\.0\.0\.1\]:{sshd.port} is not in known_hosts") as raised:
        make_source(inbox, known_hosts=known_hosts).list_files()

    assert host_key_fingerprint(sshd) in str(raised.value)


def test_known_hosts_is_required(sshd, inbox):
    with pytest.raises(DropSourceError, match="known_hosts is required"):
        SftpDropSource(
            host=sshd.host, port=sshd.port, username=sshd.user, path=str(inbox), known_hosts=None, password="x"
        )


def test_a_key_the_server_does_not_know_is_refused(sshd, tmp_path, inbox, make_source):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    stranger = (tmp_path / "stranger").read_text()

    with pytest.raises(
        DropSourceError, match=rf"authentication failed for {sshd.user}@127\.0\.0\.1:{sshd.port}"
    ) as raised:
        make_source(inbox, private_key=stranger).list_files()

    assert stranger.splitlines()[1] not in str(raised.value)


def test_a_wrong_password_is_refused_without_echoing_it(sshd, inbox, make_source):
    if sshd.password is None:
        pytest.skip("password login needs the per-session user, which only root can create")
    wrong = "not-" + sshd.password

    with pytest.raises(DropSourceError, match="authentication failed") as raised:
        make_source(inbox, private_key=None, password=wrong, attempts=1).list_files()

    assert wrong not in str(raised.value)
    assert wrong not in repr(make_source(inbox, private_key=None, password=wrong))


def test_a_private_key_that_is_not_a_key_is_a_clear_error(inbox, make_source):
    with pytest.raises(DropSourceError, match="not an unencrypted ed25519, ECDSA or RSA key"):
        make_source(
            inbox, private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n"
        ).list_files()


# After processing and the outbox


def test_move_puts_files_in_processed_and_rejected(inbox, make_source):
    drop(inbox, "inventory_20261102T080000.csv", b"a\n")
    drop(inbox, "orders_20261102T090000.csv", b"b\n")
    drop(inbox, "styles_20261101T120000.csv", b"c\n")
    source = make_source(inbox, after_processing="move")

    source.after_processing("inventory_20261102T080000.csv", rejected=False)
    source.after_processing("orders_20261102T090000.csv", rejected=True)

    assert files_under(inbox) == [
        "processed",
        "processed/inventory_20261102T080000.csv",
        "rejected",
        "rejected/orders_20261102T090000.csv",
        "styles_20261101T120000.csv",
    ]
    assert [f.name for f in source.list_files()] == ["styles_20261101T120000.csv"]


def test_move_takes_the_ready_marker_along_and_replaces_an_earlier_processed_copy(inbox, make_source):
    source = make_source(inbox, after_processing="move", ready_marker=".done")
    for content in (b"first\n", b"second\n"):
        drop(inbox, "inventory_20261102T080000.csv", content)
        drop(inbox, "inventory_20261102T080000.csv.done", b"")
        source.after_processing("inventory_20261102T080000.csv", rejected=False)

    assert files_under(inbox) == [
        "processed",
        "processed/inventory_20261102T080000.csv",
        "processed/inventory_20261102T080000.csv.done",
    ]
    assert (inbox / "processed" / "inventory_20261102T080000.csv").read_bytes() == b"second\n"


def test_leave_leaves_the_inbox_alone(inbox, make_source):
    drop(inbox, "inventory_20261102T080000.csv", b"a\n")

    make_source(inbox).after_processing("inventory_20261102T080000.csv", rejected=True)

    assert files_under(inbox) == ["inventory_20261102T080000.csv"]


def test_upload_is_never_seen_partial_under_its_final_name(sshd, tmp_path, inbox, make_source):
    outbox = sshd.folder("outbox")
    name = "inventory_NYC_20261102T080000.csv"
    earlier = drop(outbox, name, b"upc,ats\nearlier export\n").read_bytes()
    content = csv_bytes(40_000_000)
    local = tmp_path / name
    local.write_bytes(content)
    source = make_source(inbox, outbox=str(outbox))
    watcher = watcher_sftp(sshd)
    seen: list[dict[str, int]] = []
    uploading = threading.Thread(target=source.upload, args=(local, name))

    uploading.start()
    while uploading.is_alive():
        seen.append({e.filename: e.st_size for e in watcher.listdir_attr(str(outbox))})
    uploading.join()
    seen.append({e.filename: e.st_size for e in watcher.listdir_attr(str(outbox))})
    watcher.get_channel().get_transport().close()

    assert any(name + ".part" in snapshot for snapshot in seen), "the upload never went through <name>.part"
    assert {snapshot[name] for snapshot in seen if name in snapshot} <= {len(earlier), len(content)}
    assert seen[-1] == {name: len(content)}
    assert (outbox / name).read_bytes() == content


def test_upload_without_an_outbox_is_a_clear_error(tmp_path, inbox, make_source):
    local = tmp_path / "x.csv"
    local.write_bytes(b"a\n")
    with pytest.raises(DropSourceError, match="no outbox configured"):
        make_source(inbox).upload(local, "x.csv")


# From the partners file


def test_from_spec_reads_the_url_and_resolves_secrets_through_the_caller(sshd, tmp_path, inbox):
    outbox = sshd.folder("outbox")
    drop(inbox, "inventory_20261102T080000.csv", b"a\n")
    secrets = {"ACME_SFTP_KEY": sshd.client_key_pem}
    asked: list[EnvRef] = []

    def resolve(ref: EnvRef) -> str:
        asked.append(ref)
        return secrets[ref.env]

    spec = PartnerSpec(
        name="acme",
        account="acme",
        source=f"sftp://{sshd.user}@{sshd.host}:{sshd.port}{inbox}",
        known_hosts=str(sshd.known_hosts),
        private_key=EnvRef("ACME_SFTP_KEY"),
        after_processing="move",
        exports=ExportTargets(outbox=str(outbox)),
    )
    with SftpDropSource.from_spec(spec, resolve) as source:
        assert (source.host, source.port, source.username, source.path, source.outbox) == (
            sshd.host,
            sshd.port,
            sshd.user,
            str(inbox),
            str(outbox),
        )
        assert [f.name for f in source.list_files()] == ["inventory_20261102T080000.csv"]
        source.after_processing("inventory_20261102T080000.csv", rejected=False)
    assert asked == [EnvRef("ACME_SFTP_KEY")]
    assert files_under(inbox) == ["processed", "processed/inventory_20261102T080000.csv"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("sftp://sftp.example.com/outbound", "names no user"),
        ("sftp://acme:secret@sftp.example.com/outbound", "not in the source URL"),
        ("ftp://acme@sftp.example.com/outbound", "is not sftp://"),
        ("sftp://acme@sftp.example.com:99999/outbound", "bad port"),
    ],
)
def test_from_spec_rejects_a_source_it_cannot_use(source, message):
    spec = PartnerSpec(name="acme", source=source, known_hosts="/etc/stockdrop/known_hosts", password=EnvRef("P"))

    with pytest.raises(DropSourceError, match=message) as raised:
        SftpDropSource.from_spec(spec, lambda ref: "pw")

    assert "secret" not in str(raised.value)
