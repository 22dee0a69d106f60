"""``airpool.devcluster.images.oci``: OCI image archives that containerd can import, byte-for-byte reproducible."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from airpool.devcluster import errors
from airpool.devcluster.images import oci


def _blob(archive: tarfile.TarFile, digest: str) -> bytes:
    member = archive.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}")
    assert member is not None
    data = member.read()
    assert hashlib.sha256(data).hexdigest() == digest.removeprefix("sha256:")  # every blob is named by its digest
    return data


def _read(path: Path) -> tuple[dict, dict, list[tarfile.TarInfo], dict[str, bytes]]:  # type: ignore[type-arg]
    with tarfile.open(path) as archive:
        layout = json.loads(_blob_named(archive, "oci-layout"))
        assert layout == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(_blob_named(archive, "index.json"))
        manifest = json.loads(_blob(archive, index["manifests"][0]["digest"]))
        config = json.loads(_blob(archive, manifest["config"]["digest"]))
        layer_gz = _blob(archive, manifest["layers"][0]["digest"])
    layer = gzip.decompress(layer_gz)
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = tar.getmembers()
        contents = {m.name: tar.extractfile(m).read() for m in members if m.isreg()}  # type: ignore[union-attr]
    return index, config, members, contents


def _blob_named(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    assert member is not None
    return member.read()


def test_files_become_an_image_with_its_config_and_a_stable_digest(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.write_bytes(b"#!/bin/sh\necho hi\n")
    program.chmod(0o700)
    files = {
        "bin/program": oci.File(source=program, mode=0o755),
        "etc/motd": oci.File(content=b"hello\n", uid=50000, gid=0),
        "bin/sh": oci.File(symlink="program"),
        "tmp": oci.File(mode=0o1777),
    }
    config = oci.ImageConfig(
        entrypoint=["/bin/program"],
        cmd=["--flag"],
        env={"PATH": "/bin", "HOME": "/tmp"},
        user="50000:0",
        working_dir="/tmp",
        labels={"b": "2", "a": "1"},
    )
    first = oci.write_image(
        tmp_path / "a.tar", reference="airpool.local/test:1", layers=[oci.Layer.from_files(files)], config=config
    )
    second = oci.write_image(
        tmp_path / "b.tar", reference="airpool.local/test:1", layers=[oci.Layer.from_files(files)], config=config
    )
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert first.digest == second.digest
    assert first.digest.startswith("sha256:")

    index, image_config, members, contents = _read(first.path)
    annotations = index["manifests"][0]["annotations"]
    assert annotations[oci.ANNOTATION_CONTAINERD_NAME] == "airpool.local/test:1"
    assert index["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}
    assert index["manifests"][0]["digest"] == first.digest
    assert oci.read_reference(first.path) == "airpool.local/test:1"
    assert image_config["config"] == {
        "Entrypoint": ["/bin/program"],
        "Cmd": ["--flag"],
        "Env": ["PATH=/bin", "HOME=/tmp"],
        "User": "50000:0",
        "WorkingDir": "/tmp",
        "Labels": {"a": "1", "b": "2"},
    }
    assert "created" not in image_config  # no clock in the config
    by_name = {m.name: m for m in members}
    assert [m.name for m in members] == sorted(by_name)  # parents (added on their own) come before children
    assert by_name["bin"].isdir()
    assert by_name["bin"].mode == 0o755
    assert by_name["bin/program"].mode == 0o755
    assert contents["bin/program"] == program.read_bytes()
    assert by_name["bin/sh"].issym()
    assert by_name["bin/sh"].linkname == "program"
    assert (by_name["etc/motd"].uid, by_name["etc/motd"].gid) == (50000, 0)
    assert by_name["tmp"].mode == 0o1777
    assert {m.mtime for m in members} == {0}
    assert {m.uname for m in members} == {""}


def test_a_directory_keeps_modes_owners_links_and_mtimes(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_bytes(b"tool")
    (root / "usr" / "bin" / "tool").chmod(0o750)
    os.link(root / "usr" / "bin" / "tool", root / "usr" / "bin" / "tool-again")
    (root / "bin").symlink_to("usr/bin")
    os.utime(root / "usr" / "bin" / "tool", (1_700_000_000, 1_700_000_000))
    os.mkfifo(root / "fifo")  # not a file an image can carry: skipped

    image = oci.write_image(
        tmp_path / "dir.tar",
        reference="x.local/dir:1",
        layers=[oci.Layer.from_directory(root)],
        config=oci.ImageConfig(),
    )
    again = oci.write_image(
        tmp_path / "dir2.tar",
        reference="x.local/dir:1",
        layers=[oci.Layer.from_directory(root)],
        config=oci.ImageConfig(),
    )
    assert image.digest == again.digest

    _, _, members, contents = _read(image.path)
    by_name = {m.name: m for m in members}
    assert "fifo" not in by_name
    assert by_name["bin"].issym()
    assert by_name["bin"].linkname == "usr/bin"
    tool = by_name["usr/bin/tool"]
    assert tool.mode == 0o750
    assert tool.mtime == 1_700_000_000
    assert contents["usr/bin/tool"] == b"tool"
    assert by_name["usr/bin/tool-again"].islnk()
    assert by_name["usr/bin/tool-again"].linkname == "usr/bin/tool"
    names = [m.name for m in members]
    assert names.index("usr") < names.index("usr/bin") < names.index("usr/bin/tool")

    clamped = oci.write_image(
        tmp_path / "c.tar",
        reference="x.local/dir:1",
        layers=[oci.Layer.from_directory(root, clamp_mtime=1000)],
        config=oci.ImageConfig(),
    )
    _, _, members, _ = _read(clamped.path)
    assert max(m.mtime for m in members) == 1000


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(errors.DevClusterError, match="needs a tag"):
        oci.write_image(tmp_path / "x.tar", reference="airpool.local/untagged", layers=[], config=oci.ImageConfig())
    with pytest.raises(errors.DevClusterError, match="not a directory"):
        oci.Layer.from_directory(tmp_path / "missing")
    with pytest.raises(errors.DevClusterError, match="not a relative path"):
        oci.write_image(
            tmp_path / "y.tar",
            reference="a.local/b:1",
            layers=[oci.Layer.from_files({"../escape": oci.File(content=b"")})],
            config=oci.ImageConfig(),
        )
    assert not (tmp_path / "x.tar").exists()
    assert not (tmp_path / "y.tar").exists()
    (tmp_path / "not-an-image.tar").write_bytes(b"junk")
    with pytest.raises(errors.DevClusterError, match="not an image archive"):
        oci.read_reference(tmp_path / "not-an-image.tar")
