"""Image references for ``updateDeploymentImage`` / ``airpool deployment deploy-image``: what is accepted, and a
refusal that names the actual problem."""

from __future__ import annotations

import pytest

from airpool.domain import rollouts
from airpool.domain.errors import InvalidInput


@pytest.mark.parametrize(
    "reference",
    [
        "registry.example.com/team/airflow:1.0",
        "registry.example.com:5000/team/airflow:deploy-3",
        "airflow:deploy-41@sha256:" + "a" * 64,
        "  team/airflow:2  ",
    ],
)
def test_references_with_a_tag_are_accepted(reference: str) -> None:
    assert rollouts.check_image(reference) == reference.strip()


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("bad image!!", "contains white space"),
        ("bad-image!!", "contains '!', which no image reference has"),
        ("team/airflow$:1", "contains '$', which no image reference has"),
        ("team/airflöw:1", "contains 'ö', which no image reference has"),
        ("registry.example.com/data-team/airflow", "names no tag"),
        ("Registry.example.com/Data/airflow:1", "is not an image reference"),
        ("", "image must not be empty"),
    ],
)
def test_a_refusal_names_what_is_wrong_and_what_is_allowed(reference: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        rollouts.check_image(reference)
    assert why in refused.value.message
    if reference:
        assert "allowed: [registry[:port]/]name:tag[@sha256:digest]" in refused.value.message
