"""The CLI config file: contexts survive a round trip, tokens are never readable by others, bad files are named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from airpool.cli import settings
from airpool.domain.errors import AirpoolError, NotFound


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_keeps_every_context(tmp_path: Path) -> None:
    path = tmp_path / "airpool" / "config.yaml"
    config = settings.Settings(path=path, current="b")
    config.contexts["a"] = settings.Context(name="a", server="http://localhost:8871", username="alice", token="t1")
    config.contexts["b"] = settings.Context(
        name="b", server="https://prod.example.com", token="t2", workspace_id="w-1", workspace_label="data"
    )
    settings.save(config)
    loaded = settings.load(path)
    assert loaded.current == "b"
    assert loaded.contexts == config.contexts
    assert settings.current(loaded).server == "https://prod.example.com"


def test_file_is_0600_and_folder_0700_even_when_it_was_readable_before(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.yaml"
    path.parent.mkdir()
    path.write_text("contexts: {}\n")
    path.chmod(0o644)
    config = settings.load(path)
    config.contexts["x"] = settings.Context(name="x", server="http://localhost:8871", token="secret")
    settings.save(config)
    assert _mode(path) == 0o600
    fresh = tmp_path / "new" / "deeper" / "config.yaml"
    settings.save(settings.Settings(path=fresh))
    assert _mode(fresh) == 0o600
    assert _mode(fresh.parent) == 0o700
    assert [p.name for p in fresh.parent.iterdir()] == ["config.yaml"]  # no temporary file left behind


def test_missing_file_is_an_empty_configuration(tmp_path: Path) -> None:
    config = settings.load(tmp_path / "nope.yaml")
    assert config.contexts == {}
    with pytest.raises(settings.NotLoggedIn, match="airpool login"):
        settings.current(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("contexts:\n  a: {server: [\n", r"config\.yaml line \d+ is not valid YAML"),
        (
            "contexts:\n  a:\n    server: http://x\n    tokn: abc\n",
            r"contexts\.a has unknown keys tokn; allowed: .*token",
        ),
        ("contexts:\n  a:\n    token: abc\n", r"contexts\.a must be a mapping with a 'server' URL"),
        ("- just\n- a list\n", r"must hold a mapping with 'contexts' and 'current-context'"),
    ],
)
def test_bad_file_is_named_with_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(AirpoolError, match=message):
        settings.load(path)


def test_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    config = settings.Settings(path=tmp_path / "c.yaml", current="gone")
    config.contexts["here"] = settings.Context(name="here", server="http://localhost:8871")
    with pytest.raises(NotFound, match=r"context 'gone' is not in .*known contexts: here"):
        settings.current(config)


def test_default_context_name_is_host_and_port() -> None:
    assert settings.context_name("http://localhost:8871") == "localhost:8871"
    assert settings.context_name("https://airpool.example.com") == "airpool.example.com"
