"""An arrow-key menu with type-to-filter, drawn on stderr, for choosing a pool namespace or a workspace.

Small on purpose: the menu's state (:class:`Menu`) and the key decoding (:func:`keys`) are pure and unit-tested;
only :func:`choose` touches the terminal (cbreak mode, so Ctrl-C still interrupts, restored in ``finally``). It
draws on stderr so ``airpool deployment create -o json | jq`` keeps stdout clean. No library needed, nothing to
import at start-up.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from airpool.domain.errors import AirpoolError

MAX_ROWS = 10

_SEQUENCES = {
    "\x1b[A": "up",
    "\x1bOA": "up",
    "\x1b[B": "down",
    "\x1bOB": "down",
    "\x1b[H": "home",
    "\x1b[F": "end",
    "\x1b[5~": "pageup",
    "\x1b[6~": "pagedown",
}
_CONTROLS = {
    "\r": "enter",
    "\n": "enter",
    "\x7f": "backspace",
    "\x08": "backspace",
    "\x15": "clear",  # Ctrl-U
    "\x10": "up",  # Ctrl-P
    "\x0e": "down",  # Ctrl-N
    "\t": "down",
    "\x04": "eof",  # Ctrl-D
    "\x03": "interrupt",  # Ctrl-C when signals are off
}


class Cancelled(AirpoolError):
    pass


def keys(data: str) -> Iterator[str]:
    """Split what one read returned into key names; printable characters stay themselves."""
    i = 0
    while i < len(data):
        if data[i] == "\x1b":
            for seq, name in _SEQUENCES.items():
                if data.startswith(seq, i):
                    yield name
                    i += len(seq)
                    break
            else:
                # A lone Esc, or a sequence we do not handle: skip the whole sequence.
                j = i + 1
                if j < len(data) and data[j] in "[O":
                    j += 1
                    while j < len(data) and not ("@" <= data[j] <= "~"):
                        j += 1
                    j += 1
                    yield "ignored"
                else:
                    yield "escape"
                i = j
            continue
        char = data[i]
        i += 1
        if char in _CONTROLS:
            yield _CONTROLS[char]
        elif char.isprintable():
            yield char
        else:
            yield "ignored"


@dataclasses.dataclass
class Menu:
    """What is typed, which options match it (case-insensitive substring) and which match is highlighted."""

    options: Sequence[str]
    query: str = ""
    index: int = 0
    #: Lower-cased options and the last query's matches, so a keystroke over 10,000 names filters once.
    _lowered: list[str] = dataclasses.field(default_factory=list, init=False, repr=False, compare=False)
    _found: tuple[str, list[int]] | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def matches(self) -> list[int]:
        if len(self._lowered) != len(self.options):
            self._lowered = [option.lower() for option in self.options]
            self._found = None
        if self._found is None or self._found[0] != self.query:
            needle = self.query.lower()
            self._found = (self.query, [i for i, option in enumerate(self._lowered) if needle in option])
        return self._found[1]

    def press(self, key: str) -> int | None:
        """Apply one key; the chosen option's index on Enter, else None. Raises :class:`Cancelled`."""
        found = self.matches()
        if key == "enter":
            return found[self.index] if found else None
        if key in ("eof", "interrupt"):
            raise Cancelled("no choice made")
        if key == "up":
            self.index = (self.index - 1) % len(found) if found else 0
        elif key == "down":
            self.index = (self.index + 1) % len(found) if found else 0
        elif key in ("home", "pageup"):
            self.index = 0
        elif key in ("end", "pagedown"):
            self.index = max(len(found) - 1, 0)
        elif key == "backspace":
            self._filter(self.query[:-1])
        elif key in ("clear", "escape"):
            self._filter("")
        elif len(key) == 1:
            self._filter(self.query + key)
        return None

    def _filter(self, query: str) -> None:
        self.query = query
        self.index = 0

    def window(self, rows: int) -> tuple[list[int], int]:
        """The matches to draw (at most ``rows``, scrolled to keep the highlight visible) and the first's offset."""
        found = self.matches()
        start = min(max(self.index - rows + 1, 0), max(len(found) - rows, 0))
        return found[start : start + rows], start


def interactive() -> bool:
    """Whether a menu can be shown: a person at a terminal on both ends."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def render(menu: Menu, *, title: str, width: int, rows: int) -> list[str]:
    """The lines of one frame, each cut to the terminal width so the cursor arithmetic holds."""
    lines = [f"? {title}: {menu.query}", "  (type to filter, arrows to move, Enter to choose, Ctrl-C to cancel)"]
    shown, start = menu.window(rows)
    found = len(menu.matches())
    if not shown:
        lines.append(f"  no match for {menu.query!r}")
    for offset, option_index in enumerate(shown):
        marker = ">" if start + offset == menu.index else " "
        lines.append(f"{marker} {menu.options[option_index]}")
    if found > len(shown):
        lines.append(f"  ({found - len(shown)} more)")
    return [line[: max(width - 1, 10)] for line in lines]


def choose(options: Sequence[str], *, title: str, out: TextIO | None = None) -> int:
    """Let the user pick one of ``options`` with arrows and typing; returns its index."""
    import termios
    import tty

    if not options:
        raise ValueError("choose() needs at least one option")
    out = out or sys.stderr
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    menu = Menu(options)
    tty.setcbreak(fd)
    try:
        out.write("\x1b[?25l")
        while True:
            size = os.get_terminal_size(out.fileno())
            lines = render(menu, title=title, width=size.columns, rows=max(min(MAX_ROWS, size.lines - 4), 1))
            _redraw(out, lines)
            data = os.read(fd, 64).decode("utf-8", errors="ignore")
            if not data:
                raise Cancelled("no choice made: the terminal closed")
            for key in keys(data):
                chosen = menu.press(key)
                if chosen is not None:
                    _redraw(out, [f"? {title}: {options[chosen]}"])
                    out.write("\n")
                    return chosen
                if key == "enter":
                    out.write("\a")  # nothing matches the filter: nothing to choose
    finally:
        out.write("\x1b[?25h")
        out.flush()
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _redraw(out: TextIO, lines: list[str]) -> None:
    """Replace the frame that starts on the cursor's line, then park the cursor back on that first line."""
    out.write("\r\x1b[J")
    out.write("\n".join(lines))
    if len(lines) > 1:
        out.write(f"\x1b[{len(lines) - 1}A")
    out.write("\r")
    out.flush()
