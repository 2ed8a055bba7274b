"""Key resolution (UPC, style, JOOR ids, pinning, conflicts) and warehouse resolution."""

from tests.conftest import stock

H = "upc,style_number,style_identifier,color_code,size_name,style_id,style_color_id,size_code,warehouse_code,quantity\n"


def rejects_of(collect, name):
    ((_, parse_rejects, applied),) = [c for c in collect if c[0] == name]
    return {r["line"]: r["reason"] for r in parse_rejects.vstack(applied.rejects).to_dicts()}


def test_all_three_key_sets_resolve_and_the_first_resolving_set_wins(fold):
    collect = []
    s = fold(
        [
            (
                "inventory_20261102T000000.csv",
                H + "012345678905,,,,,,,,,1\n"
                ",TS100,FW26,BLK,Medium,,,,,2\n"
                ",,,,,1001,5002,S,,3\n"
                "999999999999,JK200,FW26,NVY,Large,,,,,4\n",
            )
        ],
        collect=collect,
    )
    assert stock(s) == {
        ("DEFAULT", "012345678905"): (1, 0, 1),
        ("DEFAULT", "012345678912"): (2, 0, 2),
        ("DEFAULT", "012345678929"): (3, 0, 3),
        ("DEFAULT", "012345678936"): (4, 0, 4),
    }
    assert rejects_of(collect, "inventory_20261102T000000.csv") == {}


def test_conflicting_identifiers_and_unknown_items_are_rejected(fold):
    collect = []
    s = fold(
        [
            (
                "inventory_20261102T000000.csv",
                H + "012345678905,TS100,FW26,BLK,Medium,,,,,1\n036000291452,,,,,,,,,2\n,TS100,FW26,,Small,,,,,3\n",
            )
        ],
        collect=collect,
    )
    assert stock(s) == {}
    reasons = rejects_of(collect, "inventory_20261102T000000.csv")
    assert reasons[2].startswith("conflicting identifiers")
    assert reasons[3].startswith("unknown item")
    assert reasons[4].startswith("unknown item") and "no complete item key" in reasons[4]


def test_pinned_item_identifier_reads_only_that_set(fold):
    collect = []
    s = fold(
        [("inventory_20261102T000000.csv", H + "999999999999,TS100,FW26,BLK,Small,,,,,5\n")],
        collect=collect,
        item_identifier="style",
    )
    assert stock(s) == {("DEFAULT", "012345678905"): (5, 0, 5)}
    collect.clear()
    s = fold(
        [("inventory_20261102T000000.csv", H + ",TS100,FW26,BLK,Small,,,,,5\n")], collect=collect, item_identifier="upc"
    )
    assert stock(s) == {}
    assert rejects_of(collect, "inventory_20261102T000000.csv")[2].startswith("unknown item")


def test_warehouses_default_unknown_future_dates_and_is_default(fold):
    collect = []
    s = fold(
        [
            (
                "inventory_20261102T000000.csv",
                H + "012345678905,,,,,,,,,1\n012345678905,,,,,,,,LA,2\n012345678912,,,,,,,,SPRING,3\n",
            ),
            ("warehouses_20261103T000000.csv", "warehouse_code,type,is_default\nNYC,IMMEDIATE,true\n"),
            (
                "inventory_20261104T000000.csv",
                "upc,quantity,available_date\n012345678929,4,\n012345678936,5,2026-12-24\n",
            ),
        ],
        collect=collect,
    )
    assert rejects_of(collect, "inventory_20261102T000000.csv") == {3: "unknown warehouse"}
    assert stock(s) == {
        ("DEFAULT", "012345678905"): (1, 0, 1),
        ("SPRING", "012345678912"): (3, 0, 3),
        ("NYC", "012345678929"): (4, 0, 4),
        ("NYC", "012345678936"): (5, 0, 5),
    }
    from pipelines.domain.fold import effective_inventory

    dates = {
        r["warehouse_code"] + r["item_key"][:5]: str(r["available_date"]) for r in effective_inventory(s).to_dicts()
    }
    assert dates["SPRINGTS100"] == "2027-02-01"
    assert dates["NYCJK200"] == "2026-12-24"


def test_future_warehouse_needs_a_date_and_one_default_per_file(fold):
    collect = []
    fold(
        [
            (
                "warehouses_20261102T000000.csv",
                "warehouse_code,type,available_date,is_default\n"
                "F1,FUTURE,,false\nA,IMMEDIATE,,true\nB,IMMEDIATE,,true\n",
            )
        ],
        collect=collect,
    )
    reasons = rejects_of(collect, "warehouses_20261102T000000.csv")
    assert reasons[2].startswith("available_date is required")
    assert reasons[3] == reasons[4] == "more than one default warehouse in the file"
