"""Definitions wired to a temp store and a temp local inbox."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs import build_definitions
from pipelines.defs.resources import PartnersResource, StoreResource

SAMPLE_DROPS = Path(__file__).resolve().parents[2] / "sample_data" / "drops"


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    shutil.copytree(SAMPLE_DROPS, folder)
    return folder


@pytest.fixture
def wired(tmp_path, inbox):
    """(defs, store resource, partners resource, instance) over the sample drops."""
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(
        f"partners:\n  brand:\n    account: brand\n    source: {inbox}\n    settle_s: 0\n"
        f"    exports: {{dir: {tmp_path / 'exports'}}}\n"
    )
    store = StoreResource(url=f"sqlite:///{tmp_path / 'store.db'}")
    partners = PartnersResource(partners_file=str(partners_file))
    with dg.instance_for_test() as instance:
        yield build_definitions(store, partners), store, partners, instance
