"""Listings: aligned plain text when piped (one row per line, header first), every cell printable."""

from __future__ import annotations

from airpool.cli import output


def test_plain_table_aligns_columns_without_trailing_spaces() -> None:
    rows = [
        {"name": "pool-a", "state": "available", "holder": None},
        {"name": "pool-bb", "state": "claimed", "holder": {"label": "etl"}},
    ]
    columns = [
        output.field("namespace", "name"),
        output.field("state", "state"),
        output.field("holder", "holder.label"),
    ]
    assert output.plain_table(rows, columns).splitlines() == [
        "NAMESPACE  STATE      HOLDER",
        "pool-a     available  -",
        "pool-bb    claimed    etl",
    ]


def test_cells() -> None:
    assert output.cell(None) == "-"
    assert output.cell("") == "-"
    assert output.cell(True) == "yes"
    assert output.cell(["a", "b"]) == "a,b"
    assert output.cell(3) == "3"
