"""What `stockdrop replay INBOX` does, through the adapters only (no Dagster start-up): a crash target.

    python -m tests.integration.replay_driver INBOX STORE_URL DATA_DIR

Lands every file of INBOX for the default partner, parses each current version still `landed`
(as the parsed_rows asset does after an interrupted run), then folds the account. Run again after
a crash it finishes the job; it prints nothing and exits 0 on success.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.drop_source import LocalDropSource
from pipelines.adapters.folding import fold_account
from pipelines.adapters.landing import land_file
from pipelines.adapters.parsing import parse_file
from pipelines.adapters.store import SqlStore
from pipelines.domain.drop_names import parse_drop_name
from pipelines.domain.partners import PartnerSpec


def replay(inbox: Path, store_url: str, data_dir: Path) -> None:
    store = SqlStore(store_url)
    paths = DataPaths(data_dir)
    partner = PartnerSpec(source=str(inbox))
    source = LocalDropSource(inbox)
    names = sorted((f.name for f in source.list_files()), key=lambda n: parse_drop_name(n).order_key)
    for name in names:
        land_file(store, paths, partner, source, name)
        with store.transaction() as conn:
            current = store.latest_version(conn, partner.name, name)
        if current.status == "landed":
            parse_file(store, current.file_id, partner)
    fold_account(store, paths, partner.account)
    store.dispose()


if __name__ == "__main__":
    replay(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
