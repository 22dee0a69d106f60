"""The images the real node needs for itself: the pause image (every pod's sandbox) and busybox (the helper pods
with which the volume provisioner creates and removes volume directories).

Both are packed by ``oci`` from files already here: the pause program ``airpool dev build`` compiles from
tools/k8s/pause, and the static busybox of the Debian package ``busybox-static``. Each archive is cached under
``images_dir()`` by a name that carries a digest of its input, so a changed input is a new image and an unchanged
one is never packed twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from airpool.devcluster import binaries, errors
from airpool.devcluster.images import oci

REGISTRY = "airpool.local"  # a name no registry answers to: these images exist only where they were imported
BUSYBOX = Path("/usr/bin/busybox")
BUSYBOX_APPLETS = ("sh", "mkdir", "rm", "ls", "cat", "echo", "sleep", "test", "chmod", "touch", "id")


def images_dir() -> Path:
    return binaries.cache_root() / "images"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()[:12]


def pause_reference() -> str:
    return f"{REGISTRY}/pause:{binaries.PAUSE.version}"


def busybox_reference() -> str:
    if not BUSYBOX.is_file():
        raise errors.DevClusterError(
            f"{BUSYBOX} is missing: the real node's volume helper image is made from the Debian package "
            "busybox-static (scripts/setup.sh installs it)."
        )
    return f"{REGISTRY}/busybox:{_digest(BUSYBOX)}"


def _archive(reference: str) -> Path:
    name, tag = reference.removeprefix(f"{REGISTRY}/").rsplit(":", 1)
    return images_dir() / f"{name}-{tag}.tar"


def pause_archive() -> Path:
    return _archive(pause_reference())


def busybox_archive() -> Path:
    return _archive(busybox_reference())


def ensure(*, report: Callable[[str], None] = lambda _: None) -> list[Path]:
    """Pack whichever of the node's images is not cached yet; return both archives."""
    pause_binary = binaries.PAUSE.binary("pause")
    if not pause_binary.is_file():
        raise errors.DevClusterError(f"{pause_binary} is missing: run `airpool dev build`.")
    wanted: list[tuple[str, Path, Callable[[Path], oci.Image]]] = [
        (
            "pause image",
            pause_archive(),
            lambda path: oci.write_image(
                path,
                reference=pause_reference(),
                layers=[oci.Layer.from_files({"pause": oci.File(source=pause_binary, mode=0o755)})],
                config=oci.ImageConfig(entrypoint=["/pause"], user="65535:65535"),
            ),
        ),
        (
            "busybox image",
            busybox_archive(),
            lambda path: oci.write_image(
                path,
                reference=busybox_reference(),
                layers=[
                    oci.Layer.from_files(
                        {
                            "bin/busybox": oci.File(source=BUSYBOX, mode=0o755),
                            **{f"bin/{applet}": oci.File(symlink="busybox") for applet in BUSYBOX_APPLETS},
                            "tmp": oci.File(mode=0o1777),
                        }
                    )
                ],
                config=oci.ImageConfig(cmd=["/bin/sh"], env={"PATH": "/bin"}),
            ),
        ),
    ]
    for what, path, write in wanted:
        if path.is_file():
            report(f"{what}: cached at {path}")
            continue
        image = write(path)
        report(f"{what}: packed {image.reference} ({image.size // 1024} KiB) -> {path}")
    return [path for _, path, _ in wanted]
