"""Run a command inside a built image without a container runtime: unpack its layers (as a runtime would, whiteouts
applied), then chroot into them in a private mount namespace as the image's user, with its environment, working
directory and entrypoint. What the checks of ``airpool dev images`` and its tests use; the real node runs the same
archives under containerd.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from airpool.devcluster.images.oci import OPAQUE_WHITEOUT, WHITEOUT_PREFIX


def read_archive(archive: Path) -> tuple[dict[str, object], dict[str, object], dict[str, bytes]]:
    """(index.json, manifest, config) of an OCI layout tar, and every blob by digest (layers excluded)."""
    with tarfile.open(archive) as tar:
        index = json.load(_member(tar, "index.json"))
        manifest_digest = str(index["manifests"][0]["digest"])
        manifest = json.load(_member(tar, _blob(manifest_digest)))
        config = json.load(_member(tar, _blob(str(manifest["config"]["digest"]))))
    return index, manifest, config


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = tar.extractfile(name)
    if handle is None:
        raise FileNotFoundError(name)
    return handle


@contextmanager
def unpacked(archive: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    """The image's root filesystem in a temporary directory, and its config; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="airpool-image-") as tmp:
        root = Path(tmp) / "rootfs"
        blobs = Path(tmp) / "blobs"
        root.mkdir()
        with tarfile.open(archive) as tar:
            tar.extractall(blobs, filter="data")
        index = json.loads((blobs / "index.json").read_text())
        manifest = json.loads((blobs / _blob(index["manifests"][0]["digest"])).read_text())
        config = json.loads((blobs / _blob(manifest["config"]["digest"])).read_text())
        unpack([blobs / _blob(layer["digest"]) for layer in manifest["layers"]], root)
        try:
            yield root, config
        finally:
            subprocess.run(["rm", "-rf", str(root)], check=False)


def run(
    root: Path,
    config: dict[str, object],
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    read_only: bool = False,
    user: str | None = None,
    command: list[str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in the unpacked image as a pod with ``args:`` only would: the image's entrypoint gets them
    (``command`` replaces the entrypoint, as a pod's ``command:`` does). It runs in network, mount and PID
    namespaces of its own: only its own loopback, nothing on the host or beyond.

    /proc, /dev and a tmpfs /tmp are mounted as a runtime would; ``read_only`` makes the root filesystem read-only
    (like ``readOnlyRootFilesystem: true``)."""
    image = config["config"]
    assert isinstance(image, dict)
    entrypoint = command if command is not None else list(image.get("Entrypoint") or [])
    if not args and command is None:
        args = list(image.get("Cmd") or [])  # a runtime's default arguments when a pod gives none
    variables = dict(item.split("=", 1) for item in image.get("Env") or [])
    variables.update(env or {})
    uid, _, gid = (user or image.get("User") or "0:0").partition(":")
    workdir = image.get("WorkingDir") or "/"
    q = shlex.quote
    r = q(str(root))
    enter = q(f'cd {q(workdir)} && exec "$0" "$@"')
    inner = " ".join(
        [
            "env -i",
            *(q(f"{k}={v}") for k, v in variables.items()),
            f"setpriv --reuid={q(uid)} --regid={q(gid or uid)} --clear-groups",
            f"sh -c {enter}",
            *map(q, entrypoint + args),
        ]
    )
    script = "\n".join(
        [
            "set -eu",
            "mount --make-rprivate /",
            "ip link set lo up 2>/dev/null || true",
            f"mount --bind {r} {r}",
            f"mount -t proc proc {r}/proc",
            f"mount --rbind /dev {r}/dev",
            f"mount -t tmpfs -o mode=1777 tmpfs {r}/tmp",
            f"mount -o remount,bind,ro {r}" if read_only else ":",
            f"exec chroot {r} {inner}",
        ]
    )
    return subprocess.run(
        ["unshare", "--mount", "--pid", "--net", "--fork", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def unpack(layers: list[Path], target: Path) -> None:
    """Apply gzip'd layer tars in order onto ``target`` (whiteouts delete): how a runtime sees the image. Used to
    check built images by running a command inside them."""
    for layer in layers:
        with tarfile.open(layer, mode="r:gz") as tar:
            for member in tar:
                head, _, name = member.name.rpartition("/")
                parent = target / head
                if name == OPAQUE_WHITEOUT:
                    for child in parent.iterdir() if parent.is_dir() else []:
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        else:
                            child.unlink()
                    continue
                if name.startswith(WHITEOUT_PREFIX):
                    victim = parent / name[len(WHITEOUT_PREFIX) :]
                    if victim.is_dir() and not victim.is_symlink():
                        shutil.rmtree(victim)
                    elif victim.exists() or victim.is_symlink():
                        victim.unlink()
                    continue
                existing = target / member.name
                if (existing.exists() or existing.is_symlink()) and not (member.isdir() and existing.is_dir()):
                    if existing.is_dir() and not existing.is_symlink():
                        shutil.rmtree(existing)
                    else:
                        existing.unlink()
                tar.extract(member, target, set_attrs=True, numeric_owner=True, filter="fully_trusted")
