"""How listings reach the user: a coloured table on a terminal, aligned plain text when piped, JSON on request.

Plain text keeps one row per line with a header, like ``kubectl get``, so ``grep``/``awk`` work; ``--output json``
prints the server's objects unchanged for scripts. rich is imported only when a table is drawn on a terminal, and
Typer only where a colour or an option needs it: ``airpool deployment list`` runs without it (``cli.entry``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def examples(*lines: str) -> str:
    """A command's help epilog; blank lines between examples because rich help joins single newlines."""
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines)


def echo(message: str, *, err: bool = False) -> None:
    """One line (or block) on stdout or stderr, flushed: ``typer.echo`` for plain text, without importing Typer."""
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def output_option() -> Any:
    import typer

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
    """One column of a listing. On a narrow terminal a ``copy`` column (ids, names, times: what people paste
    into the next command) is never cut or wrapped; the others wrap, and columns with a ``drop`` rank are left
    out, highest rank first, until the copy columns fit."""

    header: str
    value: Callable[[Mapping[str, Any]], Any]
    styled: bool = False
    copy: bool = False
    drop: int = 0


def field(header: str, key: str, *, styled: bool = False, copy: bool = False, drop: int = 0) -> Column:
    """A column showing ``row[key]``; a dotted key walks into nested objects (``workspace.label``)."""

    def get(row: Mapping[str, Any]) -> Any:
        value: Any = row
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    return Column(header=header, value=get, styled=styled, copy=copy, drop=drop)


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


#: The narrowest a wrapping column gets before columns are dropped instead.
_MIN_WRAPPED = 8


def fit_columns(rows: Sequence[Sequence[str]], columns: Sequence[Column], *, width: int) -> list[int] | None:
    """The indexes of the columns to show in ``width``, or None when even the copy columns do not fit (then the
    listing is printed as one block of ``KEY value`` lines per row instead).

    Pure, so the layout is unit-tested: copy columns keep their whole width, the others may wrap down to
    ``_MIN_WRAPPED``, droppable columns go (highest ``drop`` first) while that minimum does not fit; each column
    costs its width plus three characters (rich's padding on both sides and the space between columns)."""

    def natural(i: int) -> int:
        return max([len(columns[i].header), *(len(row[i]) for row in rows)])

    def minimum(shown: list[int]) -> int:
        return sum((natural(i) if columns[i].copy else min(natural(i), _MIN_WRAPPED)) + 3 for i in shown)

    shown = list(range(len(columns)))
    while minimum(shown) > width:
        droppable = [i for i in shown if columns[i].drop]
        if not droppable:
            return None
        shown.remove(max(droppable, key=lambda i: columns[i].drop))
    return shown


def records(rows: Sequence[Sequence[str]], columns: Sequence[Column]) -> str:
    """Every row as a block of ``KEY  value`` lines, blocks separated by a blank line: nothing is ever cut."""
    width = max(len(column.header) for column in columns)
    blocks = [
        "\n".join(f"{column.header.upper():<{width}}  {text}" for column, text in zip(columns, row, strict=True))
        for row in rows
    ]
    return "\n\n".join(blocks)


def _rich_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, title: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(soft_wrap=False)
    texts = [[cell(column.value(row)) for column in columns] for row in rows]
    shown = fit_columns(texts, columns, width=console.width)
    if shown is None:
        if title:
            echo(title)
        echo(records(texts, columns))
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, title=title, title_justify="left", header_style="bold")
    for i in shown:
        header = columns[i].header.upper()
        if columns[i].copy:
            table.add_column(header, no_wrap=True)
        else:
            natural = max([len(header), *(len(line[i]) for line in texts)])
            table.add_column(header, overflow="fold", min_width=min(natural, _MIN_WRAPPED))
    for line in texts:
        table.add_row(*(Text(line[i], style=STATE_STYLES.get(line[i], "") if columns[i].styled else "") for i in shown))
    console.print(table)
    dropped = [column.header for i, column in enumerate(columns) if i not in shown]
    if dropped:
        echo(f"(too narrow to show: {', '.join(dropped)}; widen the terminal or use -o json)", err=True)


def print_json(data: Any) -> None:
    echo(json.dumps(data, indent=2))


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
        echo(empty, err=True)
        return
    if is_terminal():
        _rich_table(rows, columns, title=title)
    else:
        echo(plain_table(rows, columns))


def details(pairs: Sequence[tuple[str, Any]]) -> None:
    """``Key: value`` lines for one object (``deployment status``), aligned, plain enough to pipe."""
    import typer

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

        def changed(line: str) -> None:
            if last != [line]:
                echo(line, err=True)
                last[:] = [line]

        yield changed
        return
    from rich.console import Console

    with Console(stderr=True).status("") as status:
        yield lambda line: status.update(line)
