"""``airpool deployment update --config-file``: Houston's ``config`` payload from a YAML/JSON file, options on top."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from airpool.cli import deployment_change_cmd as change


def test_a_config_file_is_read_and_options_override_it(tmp_path: Path) -> None:
    given = tmp_path / "config.yaml"
    given.write_text("workers:\n  replicas: 1\n  resources: {limits: {cpu: 500m}}\nscheduler: {replicas: 1}\n")
    config = change._config(["workers=3"], ["workers=1"], [], given)
    assert config == {
        "workers": {"replicas": 3, "resources": {"limits": {"cpu": "1"}}},
        "scheduler": {"replicas": 1},
    }


@pytest.mark.parametrize(
    ("text", "said"),
    [("- a list\n", "must hold a mapping"), ("workers: [unclosed\n", "cannot read"), (None, "cannot read")],
)
def test_a_bad_config_file_is_named(tmp_path: Path, text: str | None, said: str) -> None:
    given = tmp_path / "config.yaml"
    if text is not None:
        given.write_text(text)
    with pytest.raises(typer.BadParameter, match=said) as caught:
        change._config([], [], [], given)
    assert str(given) in str(caught.value)
