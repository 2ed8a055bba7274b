"""Each file model's columns match the store's DDL where the file kind is stored as a table."""

import re

import schemas
from pipelines.adapters.store_schema import SQL_DIR


def ddl_columns(table: str) -> set[str]:
    text = (SQL_DIR / "001_initial.sql").read_text()
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", text, re.S).group(1)
    cols = set()
    for line in body.splitlines():
        word = line.strip().split(" ")[0].strip('"')
        if word and word.upper() not in ("PRIMARY", "UNIQUE", "--") and not word.startswith("--"):
            cols.add(word)
    return cols


def model_columns(kind: str) -> set[str]:
    return set(schemas.MODELS[kind].columns)


def test_catalog_tables_hold_every_column_of_their_files():
    assert model_columns("warehouses") == ddl_columns("warehouses") - {"account"}
    assert model_columns("linesheets") == ddl_columns("linesheets") - {"account"}
    assert model_columns("styles") == ddl_columns("items") - {"account"}


def test_inventory_and_order_tables_hold_the_sku_keys_not_the_raw_identifiers():
    sku = {"style_number", "style_identifier", "color_code", "size_name"}
    assert sku <= ddl_columns("inventory") and sku <= ddl_columns("order_lines")
    assert {"quantity", "warehouse_code", "available_date"} <= model_columns("inventory")
    order_state = {"status", "quantity", "order_date", "updated_at", "prebook_start", "linesheet_code"}
    assert order_state <= model_columns("orders") & ddl_columns("order_lines")
