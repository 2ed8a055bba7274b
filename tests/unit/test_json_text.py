"""Column-wise JSON text equals `json.dumps(ensure_ascii=False, separators=(",", ":"))` for any text."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain import json_text

texts = st.text(st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.none() | texts, max_size=20),
    numbers=st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=20),
)
def test_strings_and_numbers_in_an_object_match_json_dumps(values, numbers):
    n = min(len(values), len(numbers))
    frame = pl.DataFrame({"s": values[:n], "i": numbers[:n]}, schema={"s": pl.String, "i": pl.Int64})
    encoded = frame.select(
        json_text.concat(
            [
                '{"s":',
                json_text.string(pl.col("s")),
                "," + json_text.literal('i\n"') + ":",
                json_text.integer(pl.col("i")),
                ',"l":[',
                json_text.string(pl.col("s")),
                "," + json_text.literal("x\x01") + "]}",
            ]
        )
    ).to_series()

    expected = [
        json.dumps({"s": s, 'i\n"': i, "l": [s, "x\x01"]}, ensure_ascii=False, separators=(",", ":"))
        for s, i in zip(values[:n], numbers[:n], strict=True)
    ]
    assert encoded.to_list() == expected


@given(value=st.none() | texts)
def test_a_python_literal_matches_json_dumps(value):
    assert json_text.literal(value) == json.dumps(value, ensure_ascii=False)
