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


def test_narrow_tables_drop_and_wrap_other_columns_but_never_the_copy_columns() -> None:
    columns = [
        output.field("label", "label"),
        output.field("id", "id", copy=True),
        output.field("executor", "executor", drop=2),
        output.field("airflow", "airflow", drop=1),
    ]
    rows = [["a long label", "c0a8b1e2-5f7d-4c1a-9e3b-2d6f8a9c0b1d", "CeleryExecutor", "3.1.3"]]
    assert output.fit_columns(rows, columns, width=200) == [0, 1, 2, 3]
    assert output.fit_columns(rows, columns, width=70) == [0, 1, 3]  # executor goes first
    assert output.fit_columns(rows, columns, width=55) == [0, 1]
    assert output.fit_columns(rows, columns, width=40) is None  # even the id does not fit: one block per row
    block = output.records(rows, columns)
    assert "ID        c0a8b1e2-5f7d-4c1a-9e3b-2d6f8a9c0b1d" in block.splitlines()
