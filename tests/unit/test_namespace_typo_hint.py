"""A typed namespace that is not in the pool gets the closest free name as a suggestion. With thousands of free names
only those sharing the most three-letter pieces with the typed one are compared in full: the answer must be the one
difflib gives over every name (the whole comparison took about 0.45 s with 10,000 names, inside the claim's
transaction; 2026-11-30: a refused create 410-490 ms before, 45-110 ms after, most of it reading the names)."""

from __future__ import annotations

import difflib

import pytest

from airpool.domain import names

NUMBERED = [f"airflow-pool-{i}" for i in range(1, 10_001)]
TEAMS = sorted(
    f"{team}-{stage}-{i:02d}"
    for team in ("data-eng", "analytics", "marketing", "finance", "ml-platform", "search")
    for stage in ("dev", "staging", "prod")
    for i in range(60)
)


def _everywhere(wanted: str, available: list[str]) -> str | None:
    found = difflib.get_close_matches(wanted, available, n=1, cutoff=0.6)
    return found[0] if found else None


@pytest.mark.parametrize(
    ("pool", "wanted"),
    [
        (NUMBERED, "airflow-pol-29"),
        (NUMBERED, "airflow-pool-29x"),
        (NUMBERED, "arflow-pool-7777"),
        (NUMBERED, "pool-29"),
        (NUMBERED, "team-x"),
        (TEAMS, "analytcs-prod-07"),
        (TEAMS, "ml-platfrom-dev-33"),
        (TEAMS, "finance-stagin-12"),
        (TEAMS, "search-prd-59"),
        (TEAMS, "nothing-like-it"),
    ],
)
def test_the_suggestion_is_difflibs_over_every_free_name(pool: list[str], wanted: str) -> None:
    assert len(pool) > names.TYPO_CANDIDATES  # the case where only the nearest candidates are compared
    assert names.closest_name(wanted, pool) == _everywhere(wanted, pool)


def test_the_hint_names_the_suggestion_and_at_most_ten_free_names() -> None:
    hint = names.choices_hint("airflow-pol-29", NUMBERED)
    assert hint.startswith("did you mean 'airflow-pool-29'? available: airflow-pool-1, airflow-pool-2, ")
    assert hint.endswith("airflow-pool-10 and 9990 more")
    assert names.choices_hint("airflow-pol-29", NUMBERED, typo=False).startswith("available: airflow-pool-1, ")
    assert names.choices_hint("x", []) == "no namespace of the pool is available right now"
