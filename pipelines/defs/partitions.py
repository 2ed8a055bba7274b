"""Partitions: one per dropped file (`<partner>/<name>`) and one per warehouse (`<account>/<code>`).

Partner and account names are plain (partners_file checks them); file names and warehouse codes
come from partners and are encoded by `domain.name_parts` where they are not plain.
"""

from __future__ import annotations

import dagster as dg

from pipelines.domain.name_parts import decode, encode

drop_files = dg.DynamicPartitionsDefinition(name="drop_files")
warehouses = dg.DynamicPartitionsDefinition(name="warehouses")


def file_key(partner: str, name: str) -> str:
    return f"{partner}/{encode(name)}"


def split_file_key(key: str) -> tuple[str, str]:
    partner, name = key.split("/", 1)
    return partner, decode(name)


def warehouse_key(account: str, warehouse_code: str) -> str:
    return f"{account}/{encode(warehouse_code)}"


def split_warehouse_key(key: str) -> tuple[str, str]:
    account, code = key.split("/", 1)
    return account, decode(code)
