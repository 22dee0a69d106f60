"""The namespace menu: pure key handling, then the real thing driven through a pseudo-terminal with pexpect."""

from __future__ import annotations

import io
import sys

import pexpect
import pyte
import pytest

from airpool.cli import prompt

OPTIONS = ["pool-a", "pool-b", "team-c", "pool-d"]

#: A tiny program around prompt.choose that reports the choice and whether the terminal was restored.
CHOOSER = """
import sys, termios
from airpool.cli import prompt
print("earlier output 1")
print("earlier output 2")
options = sys.argv[1:]
try:
    index = prompt.choose(options, title="Choose a namespace")
    result = "CHOSEN " + options[index]
except prompt.Cancelled:
    result = "CANCELLED"
except KeyboardInterrupt:
    result = "INTERRUPTED"
lflag = termios.tcgetattr(0)[3]
print(result, "echo=%s icanon=%s" % (bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)))
"""

UP, DOWN, ENTER, BACKSPACE = "\x1b[A", "\x1b[B", "\r", "\x7f"


def test_keys_decodes_arrows_controls_and_text() -> None:
    assert list(prompt.keys("\x1b[A\x1bOB\rab\x7f\x15\x1b\x1b[1;5C\x04")) == [
        "up",
        "down",
        "enter",
        "a",
        "b",
        "backspace",
        "clear",
        "escape",
        "ignored",
        "eof",
    ]


def test_menu_moves_wraps_and_filters() -> None:
    menu = prompt.Menu(OPTIONS)
    menu.press("up")
    assert menu.press("enter") == 3  # wrapped to the last one
    menu = prompt.Menu(OPTIONS)
    for key in "POOL":
        menu.press(key)
    assert [OPTIONS[i] for i in menu.matches()] == ["pool-a", "pool-b", "pool-d"]
    menu.press("down")
    menu.press("down")
    assert menu.press("enter") == 3
    menu.press("clear")
    assert menu.matches() == [0, 1, 2, 3]
    assert menu.index == 0


def test_no_match_chooses_nothing_and_eof_cancels() -> None:
    menu = prompt.Menu(OPTIONS)
    menu.press("z")
    assert menu.matches() == []
    assert menu.press("enter") is None
    menu.press("backspace")
    assert menu.press("enter") == 0
    with pytest.raises(prompt.Cancelled):
        menu.press("eof")


def test_window_scrolls_to_keep_the_highlight_visible() -> None:
    menu = prompt.Menu([f"ns-{i:02d}" for i in range(15)])
    for _ in range(12):
        menu.press("down")
    shown, start = menu.window(10)
    assert start == 3
    assert shown == list(range(3, 13))
    lines = prompt.render(menu, title="Pick", width=80, rows=10)
    assert "> ns-12" in lines
    assert lines[-1] == "  (5 more)"


def _spawn(*options: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-c", CHOOSER, *options], encoding="utf-8", dimensions=(24, 100), timeout=20)


def test_arrow_keys_choose_in_a_real_terminal() -> None:
    child = _spawn(*OPTIONS)
    child.expect("Choose a namespace")
    child.expect("> pool-a")
    child.send(DOWN)
    child.expect("> pool-b")
    child.send(DOWN)
    child.send(UP)
    child.send(DOWN)
    child.expect("> team-c")
    child.send(ENTER)
    child.expect("CHOSEN team-c echo=True icanon=True")
    child.expect(pexpect.EOF)


def test_typing_filters_in_a_real_terminal() -> None:
    child = _spawn(*OPTIONS)
    child.expect("> pool-a")
    child.send("zz")
    child.expect("no match for 'zz'")
    child.send(ENTER)  # nothing to choose: the menu stays
    child.send(BACKSPACE + BACKSPACE + "-d")
    child.expect("> pool-d")
    child.send(ENTER)
    child.expect("CHOSEN pool-d")
    child.expect(pexpect.EOF)


def test_ctrl_c_and_ctrl_d_leave_the_terminal_as_it_was() -> None:
    child = _spawn(*OPTIONS)
    child.expect("> pool-a")
    child.sendcontrol("c")
    child.expect("INTERRUPTED echo=True icanon=True")
    child.expect(pexpect.EOF)
    child = _spawn(*OPTIONS)
    child.expect("> pool-a")
    child.sendcontrol("d")
    child.expect("CANCELLED echo=True icanon=True")
    child.expect(pexpect.EOF)


def _screen(transcript: str) -> list[str]:
    """What a VT100 terminal shows after ``transcript``: the menu's cursor moves must land where intended."""
    screen = pyte.Screen(100, 24)
    pyte.Stream(screen).feed(transcript)
    return [line.rstrip() for line in screen.display if line.strip()]


def test_frames_replace_each_other_and_leave_earlier_output_alone() -> None:
    options = [f"ns-{i:02d}" for i in range(14)]
    child = _spawn(*options)
    child.logfile_read = transcript = io.StringIO()
    child.expect(r"\(4 more\)")
    child.send(DOWN)
    child.expect("> ns-01")
    child.expect(r"\(4 more\)")
    assert _screen(transcript.getvalue()) == [
        "earlier output 1",
        "earlier output 2",
        "? Choose a namespace:",
        "  (type to filter, arrows to move, Enter to choose, Ctrl-C to cancel)",
        "  ns-00",
        "> ns-01",
        *(f"  ns-{i:02d}" for i in range(2, 10)),
        "  (4 more)",
    ]
    child.send("1")
    child.expect("ns-13")
    assert _screen(transcript.getvalue())[2:] == [
        "? Choose a namespace: 1",
        "  (type to filter, arrows to move, Enter to choose, Ctrl-C to cancel)",
        "> ns-01",
        "  ns-10",
        "  ns-11",
        "  ns-12",
        "  ns-13",
    ]
    child.send(DOWN + ENTER)
    child.expect(pexpect.EOF)
    assert _screen(transcript.getvalue()) == [
        "earlier output 1",
        "earlier output 2",
        "? Choose a namespace: ns-10",
        "CHOSEN ns-10 echo=True icanon=True",
    ]
