"""The Definitions load, and the environment defaults point at the sample partner."""

import dagster as dg

from pipelines.defs.resources import SAMPLE_PARTNERS, settings_from_env


def test_code_location_loads_with_every_asset_check_job_sensor_and_schedule():
    from pipelines.definitions import defs

    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {
        "landed_file",
        "parsed_rows",
        "file_events",
        "inventory_state",
        "warehouse_exports",
        "channel_pushes",
    }
    assert {s.name for s in defs.sensors} == {
        "drops_demo",
        "drops_northwind",
        "publish_on_new_files",
        "deliver_alerts",
        "file_verdicts",
    }
    assert defs.resolve_job_def("apply_drop").partitions_def.name == "drop_files"
    assert defs.resolve_job_def("write_exports").partitions_def.name == "warehouses"
    assert defs.resolve_job_def("decide_file").description.startswith("Approve a held or denied file")
    checks = {c.name for a in defs.assets for c in getattr(a, "check_specs", [])}
    assert checks == {"reject_ratio", "not_held", "no_unknown_warehouses", "no_oversold_rows", "pushes_acknowledged"}


def test_environment_defaults(monkeypatch):
    monkeypatch.delenv("STOCKDROP_STORE_URL", raising=False)
    monkeypatch.delenv("STOCKDROP_PARTNERS", raising=False)
    store, partners = settings_from_env()
    assert store.url.startswith("sqlite:///") and store.url.endswith("dagster_home/stockdrop.db")
    assert partners.partners_file == str(SAMPLE_PARTNERS)
    monkeypatch.setenv("STOCKDROP_STORE_URL", "sqlite:////tmp/elsewhere.db")
    assert settings_from_env()[0].url == "sqlite:////tmp/elsewhere.db"
