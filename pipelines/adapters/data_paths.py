"""Where files live on disk: landed raw files, their parsed rows, fold steps' before-images, exports."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa

from pipelines.domain.name_parts import file_name_part

PROJECT_DIR = Path(__file__).resolve().parents[2]
DAGSTER_HOME = PROJECT_DIR / "dagster_home"


def default_data_dir(store_url: str) -> Path:
    """Beside a SQLite store (`<db dir>/stockdrop-data`), else `dagster_home/data`."""
    url = sa.make_url(store_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent / "stockdrop-data"
    return DAGSTER_HOME / "data"


def default_store_url() -> str:
    return f"sqlite:///{DAGSTER_HOME / 'stockdrop.db'}"


class DataPaths:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_store(cls, store_url: str, data_dir: str | None) -> DataPaths:
        """The data folder named (STOCKDROP_DATA_DIR), else the store's default one."""
        return cls(Path(data_dir) if data_dir else default_data_dir(store_url))

    def landing(self, account: str) -> Path:
        return self.root / "landing" / account

    def fold_steps(self, account: str) -> Path:
        return self.root / "fold_steps" / account

    def exports(self) -> Path:
        return self.root / "exports"

    def export_index(self, folder: str | Path, account: str, warehouse_code: str) -> Path:
        """The folder holding the line index of one warehouse's export files in `folder`."""
        where = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:16]
        return self.root / "export_index" / where / account / file_name_part(warehouse_code)
