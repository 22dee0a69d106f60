"""A first health pass over thousands of new names moves them in batches: each batch is one log line."""

from __future__ import annotations

from airpool.commander import pool_monitor
from airpool.domain.pool import NamespaceState


def test_many_moves_are_summed_up_in_one_line_with_the_first_names_and_the_commonest_reasons() -> None:
    moved = {f"pool-{i:04d}": NamespaceState.AVAILABLE for i in range(120)}
    moved |= {f"bad-{i}": NamespaceState.MISCONFIGURED for i in range(3)}
    reasons = {name: "" for name in moved}
    reasons |= {"bad-0": "commander lacks 2 permission(s) here: x", "bad-1": "commander lacks 2 permission(s) here: x"}
    reasons["bad-2"] = "namespace bad-2 does not exist in the cluster"
    summary = pool_monitor._moves_summary(moved, reasons)
    assert summary == {
        "moved": 123,
        "to_available": 120,
        "to_misconfigured": 3,
        "first": "bad-0,bad-1,bad-2,pool-0000,pool-0001,pool-0002,pool-0003,pool-0004,pool-0005,pool-0006",
        "reasons": "2x commander lacks 2 permission(s) here: x; 1x namespace bad-2 does not exist in the cluster",
    }


def test_only_moves_to_available_carry_no_reasons() -> None:
    moved = {f"pool-{i}": NamespaceState.AVAILABLE for i in range(11)}
    summary = pool_monitor._moves_summary(moved, dict.fromkeys(moved, ""))
    assert "reasons" not in summary
    assert summary["moved"] == 11
    assert len(str(summary["first"]).split(",")) == pool_monitor.MOVES_LOGGED_ONE_BY_ONE
