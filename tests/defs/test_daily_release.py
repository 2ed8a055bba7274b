"""The daily pre-book release: the wall clock claims due pre-book lines, and re-folds keep it."""

import dagster as dg

from pipelines.adapters.folding import fold_account
from pipelines.defs.partitions import drop_files, file_key


def test_daily_release_claims_due_prebook_lines_and_survives_a_refold(wired, inbox):
    defs, store, partners, instance = wired
    for f in inbox.iterdir():
        f.unlink()
    (inbox / "styles_20261001T000000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,upc\nTS,FW,BLK,S,012345678905\n"
    )
    (inbox / "inventory_20261001T010000.csv").write_text("upc,quantity\n012345678905,10\n")
    (inbox / "orders_20261001T020000.csv").write_text(
        "order_id,upc,quantity,status,order_date,prebook_start\nP1,012345678905,4,Approved,2026-10-01,2026-10-15\n"
    )
    keys = [file_key("brand", p.name) for p in sorted(inbox.iterdir())]
    instance.add_dynamic_partitions(drop_files.name, keys)
    for key in keys:
        assert defs.resolve_job_def("apply_drop").execute_in_process(partition_key=key, instance=instance).success
    before = store.store().state().select("on_hand", "pending", "ats").row(0)
    assert before == (10, 0, 10)

    assert defs.resolve_job_def("daily_release_job").execute_in_process(instance=instance).success
    assert store.store().state().select("on_hand", "pending", "ats").row(0) == (10, 4, 6)
    # the same day again releases nothing more
    assert defs.resolve_job_def("daily_release_job").execute_in_process(instance=instance).success
    assert store.store().state().select("on_hand", "pending", "ats").row(0) == (10, 4, 6)

    # a late file before the release re-folds through the recorded release
    (inbox / "inventory_20261002T000000.csv").write_text("upc,quantity\n012345678905,20\n")
    key = file_key("brand", "inventory_20261002T000000.csv")
    instance.add_dynamic_partitions(drop_files.name, [key])
    assert defs.resolve_job_def("apply_drop").execute_in_process(partition_key=key, instance=instance).success
    assert store.store().state().select("on_hand", "pending", "ats").row(0) == (20, 4, 16)
    assert fold_account(store.store(), store.paths(), "brand").files_applied == 0
    assert isinstance(defs.resolve_schedule_def("daily_release_job_schedule"), dg.ScheduleDefinition)
