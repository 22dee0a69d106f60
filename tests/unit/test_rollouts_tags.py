"""Houston's ``deployInfo`` from the image a Deployment runs: the CLI's TAG column and the next image's tag."""

from __future__ import annotations

import pytest

from airpool.domain import rollouts


@pytest.mark.parametrize(
    ("image", "platform_tag", "current", "next_cli"),
    [
        (None, "3.3.2", "3.3.2", "deploy-1"),  # the platform's image of the Deployment's Airflow version
        (None, "custom-2", "custom-2", "deploy-1"),  # airpool.images.airflow.tag set by the admin
        ("registry.example.com/team/airflow:1.0", "3.3.2", "1.0", "deploy-1"),
        ("registry.example.com:5000/team/airflow:deploy-3", "3.3.2", "deploy-3", "deploy-4"),
        ("airflow:deploy-41@sha256:" + "a" * 64, "3.3.2", "deploy-41", "deploy-42"),
        ("team/airflow:deploy-x", "3.3.2", "deploy-x", "deploy-1"),
    ],
)
def test_deploy_tags(image: str | None, platform_tag: str, current: str, next_cli: str) -> None:
    assert rollouts.deploy_tags(image, platform_tag) == (current, next_cli)
