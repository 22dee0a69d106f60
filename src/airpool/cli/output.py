"""How listings reach the user: a coloured table on a terminal, aligned plain text when piped, JSON on request.

Plain text keeps one row per line with a header, like ``kubectl get``, so ``grep``/``awk`` work; ``--output json``
prints the server's objects unchanged for scripts. rich is imported only when a table is drawn on a terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

import typer


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def examples(*lines: str) -> str:
    """A command's help epilog; blank lines between examples because rich help joins single newlines."""
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines)


def output_option() -> Any:
    return typer.Option(
        Format.TABLE, "--output", "-o", case_sensitive=False, help="table (text for people) or json (for scripts)."
    )


#: Colours of states and phases on a terminal; anything else stays unstyled.
STATE_STYLES = {
    "available": "green",
    "healthy": "green",
    "claimed": "cyan",
    "deploying": "yellow",
    "releasing": "yellow",
    "deleting": "yellow",
    "retained": "blue",
    "unhealthy": "red",
    "unknown": "red",
    "failed": "red",
    "misconfigured": "red",
    "retired": "dim",
}


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Mapping[str, Any]], Any]
    styled: bool = False


def field(header: str, key: str, *, styled: bool = False) -> Column:
    """A column showing ``row[key]``; a dotted key walks into nested objects (``workspace.label``)."""

    def get(row: Mapping[str, Any]) -> Any:
        value: Any = row
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    return Column(header=header, value=get, styled=styled)


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value) or "-"
    return str(value)


def is_terminal() -> bool:
    return sys.stdout.isatty()


def plain_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Aligned columns with an upper-case header and no trailing spaces."""
    grid = [[c.header.upper() for c in columns]] + [[cell(c.value(row)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(widths[i]) for i, text in enumerate(line)).rstrip() for line in grid]
    return "\n".join(lines)


def _rich_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, title: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column.header.upper())
    for row in rows:
        cells = []
        for column in columns:
            text = cell(column.value(row))
            style = STATE_STYLES.get(text, "") if column.styled else ""
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    Console(soft_wrap=False).print(table)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def show(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    fmt: Format,
    empty: str,
    title: str | None = None,
    data: Any = None,
) -> None:
    """Print a listing; ``data`` (default: the rows) is what ``--output json`` prints."""
    if fmt is Format.JSON:
        print_json(list(rows) if data is None else data)
        return
    if not rows:
        typer.echo(empty, err=True)
        return
    if is_terminal():
        _rich_table(rows, columns, title=title)
    else:
        typer.echo(plain_table(rows, columns))


def details(pairs: Sequence[tuple[str, Any]]) -> None:
    """``Key: value`` lines for one object (``deployment status``), aligned, plain enough to pipe."""
    width = max(len(key) for key, _ in pairs) + 1
    for key, value in pairs:
        text = cell(value)
        colour = {"green": typer.colors.GREEN, "red": typer.colors.RED, "yellow": typer.colors.YELLOW}.get(
            STATE_STYLES.get(text, "")
        )
        typer.echo(f"{key + ':':<{width}} " + (typer.style(text, fg=colour) if colour else text))


@contextlib.contextmanager
def progress(*, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Show a changing state while waiting: a spinner on a terminal, one stderr line per change when piped."""
    if quiet:
        yield lambda line: None
        return
    if not is_terminal():
        last: list[str] = []

        def echo(line: str) -> None:
            if last != [line]:
                typer.echo(line, err=True)
                last[:] = [line]

        yield echo
        return
    from rich.console import Console

    with Console(stderr=True).status("") as status:
        yield lambda line: status.update(line)
