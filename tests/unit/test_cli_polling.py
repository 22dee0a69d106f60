"""The pace of the CLI's waiting commands (``delete --wait``, ``create --wait``, ``deployment wait``): quick
looks at first, then backing off to a ceiling (pure, on a clock the test moves)."""

from __future__ import annotations

import itertools

from airpool.cli import polling


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_quick_looks_for_the_first_seconds_then_backing_off_to_the_ceiling() -> None:
    clock = Clock()
    pauses = polling.pauses(first=0.25, quick_for=5.0, most=2.0, clock=clock)
    seen = []
    for pause in itertools.islice(pauses, 40):
        seen.append(pause)
        clock.now += pause
    quick = seen[:20]
    assert quick == [0.25] * 20  # 5 s of looks every 0.25 s
    later = seen[20:]
    assert later[0] == 0.375
    assert all(b >= a for a, b in itertools.pairwise(later))
    assert max(seen) == 2.0
    assert later[-1] == 2.0


def test_a_ceiling_below_the_first_pause_wins() -> None:
    clock = Clock()
    pauses = polling.pauses(first=0.25, quick_for=5.0, most=0.2, clock=clock)
    for _ in range(60):
        assert next(pauses) == 0.2
        clock.now += 0.2
