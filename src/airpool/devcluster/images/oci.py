"""Write OCI image archives (an OCI image layout packed as a tar) and import them into a containerd.

No registry is reachable here, so every image the dev cluster runs is packed by this module from files on this
machine: a root filesystem directory (``Layer.from_directory``) or a handful of files (``Layer.from_files``),
plus an ``ImageConfig`` (Entrypoint, Cmd, Env, User, WorkingDir, labels). The result is what
``ctr -n k8s.io images import`` loads::

    from airpool.devcluster.images import oci

    layer = oci.Layer.from_files({"pause": oci.File(source=binary, mode=0o755)})
    image = oci.write_image(
        Path("pause.tar"), reference="airpool.local/pause:1", layers=[layer],
        config=oci.ImageConfig(entrypoint=["/pause"]),
    )
    image.digest          # sha256:... of the manifest; image.reference, image.path, image.config_digest
    realnode.import_image(image.path)   # into the running real node (airpool.devcluster.realnode)

Deterministic: the same inputs give the same bytes. Entries are sorted, owners are numeric (no user names),
gzip headers carry no time or name, the config has no creation time. ``from_files`` entries get mtime 0;
``from_directory`` keeps each file's own mtime (Python's ``.pyc`` caches compare it with the source) unless
``clamp_mtime`` is given, and keeps numeric owners, modes, symlinks and hard links. Device nodes, sockets and
FIFOs are skipped (the runtime provides ``/dev``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from airpool.devcluster import errors

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_REF = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"  # what ``ctr images import`` names the image
CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageConfig:
    """The runtime settings of an image (the OCI config's ``config`` object)."""

    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    user: str | None = None  # "50000:0", "nobody", ...
    working_dir: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    exposed_ports: Sequence[str] = ()  # "8080/tcp"
    architecture: str = "amd64"
    os: str = "linux"

    def as_json(self) -> dict[str, object]:
        config: dict[str, object] = {}
        if self.entrypoint is not None:
            config["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            config["Cmd"] = list(self.cmd)
        if self.env:
            config["Env"] = [f"{key}={value}" for key, value in self.env.items()]
        if self.user is not None:
            config["User"] = self.user
        if self.working_dir is not None:
            config["WorkingDir"] = self.working_dir
        if self.labels:
            config["Labels"] = dict(sorted(self.labels.items()))
        if self.exposed_ports:
            config["ExposedPorts"] = {port: {} for port in sorted(self.exposed_ports)}
        return config


@dataclasses.dataclass(frozen=True, kw_only=True)
class File:
    """One entry of ``Layer.from_files``: bytes, a file to copy, a directory (neither), or a symlink."""

    content: bytes | None = None
    source: Path | None = None
    symlink: str | None = None
    mode: int | None = None  # default 0o644 for files, 0o755 for directories (a source keeps its own mode)
    uid: int = 0
    gid: int = 0

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.content, self.source, self.symlink)) > 1:
            raise ValueError("a File is content, a source path or a symlink, not several")


@dataclasses.dataclass(frozen=True)
class Layer:
    """What goes into one layer; build it with ``from_directory`` or ``from_files``."""

    directory: Path | None = None
    files: Mapping[str, File] | None = None
    clamp_mtime: int | None = None
    overlay_upper: bool = False

    @classmethod
    def from_directory(cls, root: Path, *, clamp_mtime: int | None = None, overlay_upper: bool = False) -> Layer:
        """Every file under ``root`` (a root filesystem), at the same path in the image.

        ``overlay_upper``: ``root`` is the upper directory of an overlay mount, whose deletions (0/0 character
        devices) and replaced directories (``trusted.overlay.opaque``) become OCI whiteouts (``.wh.<name>``,
        ``.wh..wh..opq``) hiding what the layers below have there."""
        if not root.is_dir():
            raise errors.DevClusterError(f"Cannot pack {root} into an image layer: it is not a directory.")
        return cls(directory=root, clamp_mtime=clamp_mtime, overlay_upper=overlay_upper)

    @classmethod
    def from_files(cls, files: Mapping[str, File]) -> Layer:
        """The given entries (image path -> File); parent directories are added as needed (0o755, root)."""
        return cls(files=dict(files))

    def write_tar(self, out: _Hashing) -> None:
        with tarfile.open(
            fileobj=out,  # type: ignore[call-overload]
            mode="w|",
            format=tarfile.PAX_FORMAT,
        ) as tar:
            if self.directory is not None:
                _add_directory(tar, self.directory, clamp_mtime=self.clamp_mtime, overlay_upper=self.overlay_upper)
            else:
                _add_files(tar, self.files or {})


@dataclasses.dataclass(frozen=True, kw_only=True)
class PackedLayer:
    """A layer already written as a gzip'd tar (``pack_layer``): images that share it reuse its bytes."""

    path: Path
    digest: str  # sha256:... of the gzip'd file
    diff_id: str  # sha256:... of the tar inside
    size: int

    def as_json(self) -> dict[str, object]:
        return {"path": str(self.path), "digest": self.digest, "diff_id": self.diff_id, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> PackedLayer:
        return cls(
            path=Path(str(data["path"])),
            digest=str(data["digest"]),
            diff_id=str(data["diff_id"]),
            size=int(str(data["size"])),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Image:
    """A written image archive."""

    path: Path
    reference: str  # e.g. airpool.local/pause:1 (what pods name in ``image:``)
    digest: str  # the manifest's digest
    config_digest: str  # the image ID containerd shows
    size: int  # bytes of the archive


class _Hashing:
    """A write-only stream that hashes and counts what passes through it to ``target``."""

    def __init__(self, target: IO[bytes] | gzip.GzipFile) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.count += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()


def _clean(info: tarfile.TarInfo, *, mtime: int | None) -> tarfile.TarInfo:
    info.uname = ""
    info.gname = ""
    info.pax_headers = {}
    if mtime is not None:
        info.mtime = min(int(info.mtime), mtime)
    else:
        info.mtime = int(info.mtime)
    return info


def _walk(directory: Path) -> Iterator[Path]:
    """Every path under ``directory`` in a stable order (sorted names, each directory before its content)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise errors.DevClusterError(f"Cannot read {directory} while packing an image: {exc.strerror}.") from exc
    for name in names:
        child = directory / name
        yield child
        if child.is_dir() and not child.is_symlink():
            yield from _walk(child)


WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"


def _whiteout(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    tar.addfile(info)


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _add_directory(tar: tarfile.TarFile, root: Path, *, clamp_mtime: int | None, overlay_upper: bool = False) -> None:
    for path in _walk(root):
        name = path.relative_to(root).as_posix()
        st = path.lstat()
        mode = st.st_mode
        if overlay_upper and stat.S_ISCHR(mode) and st.st_rdev == 0:  # overlayfs: deleted below
            head, _, base = name.rpartition("/")
            _whiteout(tar, f"{head}/{WHITEOUT_PREFIX}{base}" if head else f"{WHITEOUT_PREFIX}{base}")
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            continue
        info = _clean(tar.gettarinfo(str(path), arcname=name), mtime=clamp_mtime)
        if info.isreg():
            with path.open("rb") as handle:
                tar.addfile(info, handle)
        else:
            tar.addfile(info)
        if overlay_upper and info.isdir() and _is_opaque(path):  # overlayfs: replaced, nothing below shows
            _whiteout(tar, f"{name}/{OPAQUE_WHITEOUT}")


def _add_files(tar: tarfile.TarFile, files: Mapping[str, File]) -> None:
    entries: dict[str, File | None] = {}
    for raw_name, entry in files.items():
        name = raw_name.strip("/")
        if not name or ".." in name.split("/"):
            raise errors.DevClusterError(f"Image file path {raw_name!r} is not a relative path inside the image.")
        parts = name.split("/")
        for depth in range(1, len(parts)):
            entries.setdefault("/".join(parts[:depth]), None)
        entries[name] = entry
    for name in sorted(entries):
        entry = entries[name] or File()
        info = tarfile.TarInfo(name)
        info.uid, info.gid, info.mtime = entry.uid, entry.gid, 0
        if entry.symlink is not None:
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.symlink, 0o777
            tar.addfile(info)
        elif entry.content is not None:
            info.size, info.mode = len(entry.content), entry.mode if entry.mode is not None else 0o644
            tar.addfile(info, io.BytesIO(entry.content))
        elif entry.source is not None:
            source_stat = entry.source.stat()
            info.size = source_stat.st_size
            info.mode = entry.mode if entry.mode is not None else stat.S_IMODE(source_stat.st_mode)
            with entry.source.open("rb") as handle:
                tar.addfile(info, handle)
        else:
            info.type, info.mode = tarfile.DIRTYPE, entry.mode if entry.mode is not None else 0o755
            tar.addfile(info)


def _write_layer(layer: Layer, blobs: Path, *, compresslevel: int) -> tuple[str, str, int]:
    """Write the gzip'd layer into ``blobs``; return (digest, diff_id, size)."""
    with tempfile.NamedTemporaryFile(dir=blobs, prefix=".layer-", delete=False) as raw:
        compressed = _Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=compresslevel) as gz:
            uncompressed = _Hashing(gz)
            layer.write_tar(uncompressed)
    digest = compressed.sha.hexdigest()
    Path(raw.name).replace(blobs / digest)
    return f"sha256:{digest}", f"sha256:{uncompressed.sha.hexdigest()}", compressed.count


def pack_layer(layer: Layer, path: Path, *, compresslevel: int = 6) -> PackedLayer:
    """Write ``layer`` once as a gzip'd tar at ``path`` (complete or absent), for any number of images."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".layer-") as tmp:
        digest, diff_id, size = _write_layer(layer, Path(tmp), compresslevel=compresslevel)
        (Path(tmp) / digest.removeprefix("sha256:")).replace(path)
    return PackedLayer(path=path, digest=digest, diff_id=diff_id, size=size)


def _blob(blobs: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def _canonical(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def write_image(
    path: Path,
    *,
    reference: str,
    layers: Sequence[Layer | PackedLayer],
    config: ImageConfig,
    compresslevel: int = 6,
) -> Image:
    """Write an OCI image-layout tar of ``layers`` (bottom first) to ``path``, named ``reference``.

    A ``PackedLayer`` is taken as it is (not packed again).

    The archive appears at ``path`` only when complete (written under a temporary name, then renamed).
    """
    if ":" not in reference.rsplit("/", 1)[-1]:
        raise errors.DevClusterError(f"Image reference {reference!r} needs a tag (name:tag).")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".oci-") as tmp:
        blobs = Path(tmp) / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        layer_descriptors, diff_ids = [], []
        for layer in layers:
            if isinstance(layer, PackedLayer):
                digest, diff_id, size = layer.digest, layer.diff_id, layer.size
                target = blobs / digest.removeprefix("sha256:")
                if not target.exists():
                    shutil.copyfile(layer.path, target)
            else:
                digest, diff_id, size = _write_layer(layer, blobs, compresslevel=compresslevel)
            layer_descriptors.append({"mediaType": MEDIA_LAYER, "digest": digest, "size": size})
            diff_ids.append(diff_id)
        image_config = {
            "architecture": config.architecture,
            "os": config.os,
            "config": config.as_json(),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "airpool.devcluster.images.oci"} for _ in layers],
        }
        config_digest, config_size = _blob(blobs, _canonical(image_config))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layer_descriptors,
        }
        manifest_digest, manifest_size = _blob(blobs, _canonical(manifest))
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [
                {
                    "mediaType": MEDIA_MANIFEST,
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "platform": {"architecture": config.architecture, "os": config.os},
                    "annotations": {ANNOTATION_CONTAINERD_NAME: reference, ANNOTATION_REF: reference},
                }
            ],
        }
        partial = Path(tmp) / "image.tar"
        with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as tar:
            members = [
                ("oci-layout", _canonical({"imageLayoutVersion": "1.0.0"})),
                ("index.json", _canonical(index)),
            ]
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
            for directory in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for blob in sorted(blobs.iterdir()):
                info = tarfile.TarInfo(f"blobs/sha256/{blob.name}")
                info.size, info.mode = blob.stat().st_size, 0o644
                with blob.open("rb") as handle:
                    tar.addfile(info, handle)
        partial.replace(path)
    return Image(
        path=path,
        reference=reference,
        digest=manifest_digest,
        config_digest=config_digest,
        size=path.stat().st_size,
    )


def read_reference(path: Path) -> str:
    """The reference an archive written by ``write_image`` names (from its ``index.json``)."""
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile("index.json")
            index = json.loads(member.read()) if member else {}
        return str(index["manifests"][0]["annotations"][ANNOTATION_CONTAINERD_NAME])
    except (OSError, KeyError, IndexError, ValueError, tarfile.TarError) as exc:
        raise errors.DevClusterError(f"{path} is not an image archive written by airpool ({exc}).") from exc


def import_image(archive: Path, *, address: Path, namespace: str = "k8s.io", timeout: float = 1800.0) -> str:
    """Load ``archive`` into the containerd listening on ``address`` (unpacked, ready for pods); return its reference.

    ``namespace`` k8s.io is the one the kubelet's CRI sees. Importing the same archive again is a no-op.
    """
    reference = read_reference(archive)
    argv = ["ctr", "--address", str(address), "--namespace", namespace, "images", "import", str(archive)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise errors.DevClusterError(
            "`ctr` is not installed: it comes with the Debian package containerd (scripts/setup.sh installs it)."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise errors.DevClusterError(f"Importing {archive} into containerd took over {timeout:.0f} s.") from exc
    if result.returncode != 0:
        raise errors.DevClusterError(
            f"Importing {archive} ({reference}) into containerd at {address} failed: "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return reference
