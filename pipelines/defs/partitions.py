"""Partitions: one per dropped file (`<partner>/<name>`) and one per warehouse (`<account>/<code>`)."""
from __future__ import annotations

import dagster as dg

drop_files = dg.DynamicPartitionsDefinition(name="drop_files")
warehouses = dg.DynamicPartitionsDefinition(name="warehouses")


def file_key(partner: str, name: str) -> str:
    return f"{partner}/{name}"


def split_file_key(key: str) -> tuple[str, str]:
    partner, name = key.split("/", 1)
    return partner, name


def warehouse_key(account: str, warehouse_code: str) -> str:
    return f"{account}/{warehouse_code}"


def split_warehouse_key(key: str) -> tuple[str, str]:
    account, code = key.split("/", 1)
    return account, code
