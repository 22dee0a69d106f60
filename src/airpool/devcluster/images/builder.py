"""Build the dev cluster's images into OCI archives, cached by a key of their inputs.

Cache (``~/.cache/airpool/images``, or ``$AIRPOOL_CACHE_DIR/images``)::

    bases/<base>-<key>/rootfs/         the Debian root filesystem (lower directory of every image step)
    bases/<base>-<key>/layer.tar.gz    the same, packed once: the first layer of each image on that base
    built/<name>-<tag>-<key>/image.oci.tar + build.json
    logs/<name>-<tag>.log              everything the last build of that image printed

A base's key covers its suite, mirror, packages and dpkg options; an image's key covers its base's key, its whole
recipe and every file it takes in (entrypoint scripts, the constraints file, the Go module's go.mod/go.sum, the
project's sources for airpool's own image). An archive whose key matches is never rebuilt; anything that changes
an input gets a new key and is built once. Each result appears under its final name only when complete.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from airpool.devcluster import binaries, errors, toolchain
from airpool.devcluster.images import oci, rootfs
from airpool.devcluster.images.recipes import REPO_ROOT, TOOLS_DIR, Base, Image

#: Bump when the way images are assembled changes (invalidates every cached image and base).
FORMAT = 1
#: gzip level of the layers: 1 costs a few percent of size and saves half the CPU or more (2 cores, big venvs).
COMPRESSLEVEL = 1
HEARTBEAT_SECONDS = 30.0
LOG_TAIL_LINES = 30

Report = Callable[[str], None]


def cache_dir() -> Path:
    return binaries.cache_root() / "images"


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digest(root: Path, paths: Iterable[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(paths):
        sha.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def project_files() -> list[Path]:
    """What airpool's wheel is built from."""
    src = REPO_ROOT / "src"
    files = [p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)]
    return [REPO_ROOT / "pyproject.toml", REPO_ROOT / "README.md", *files]


def base_key(base: Base) -> str:
    return _digest(
        {
            "format": FORMAT,
            "base": dataclasses.asdict(base),
            "mmdebstrap": rootfs.mmdebstrap_argv(base, Path("/target")),
        }
    )[:16]


def _inputs(image: Image) -> dict[str, str]:
    """Digest of every file the image takes in, by name."""
    out: dict[str, str] = {}
    for _, source, _ in image.files:
        out[f"files/{source}"] = _file_digest(TOOLS_DIR / "files" / source)
    if image.venv is not None and image.venv.constraints:
        out[image.venv.constraints] = _file_digest(TOOLS_DIR / image.venv.constraints)
    if image.venv is not None and image.venv.project_wheel:
        out["project"] = _tree_digest(REPO_ROOT, project_files())
    if image.go is not None:
        for name in ("go.mod", "go.sum"):
            out[f"{image.go.module_dir}/{name}"] = _file_digest(TOOLS_DIR / image.go.module_dir / name)
    return out


def image_key(image: Image) -> str:
    recipe = {field.name: getattr(image, field.name) for field in dataclasses.fields(image) if field.name != "base"}
    return _digest({"format": FORMAT, "base": base_key(image.base), "recipe": recipe, "inputs": _inputs(image)})[:16]


def base_dir(base: Base) -> Path:
    return cache_dir() / "bases" / f"{base.name}-{base_key(base)}"


def image_dir(image: Image) -> Path:
    return cache_dir() / "built" / f"{image.name}-{image.tag}-{image_key(image)}"


def log_path(image_or_base: Image | Base) -> Path:
    name = image_or_base.name if isinstance(image_or_base, Base) else f"{image_or_base.name}-{image_or_base.tag}"
    return cache_dir() / "logs" / f"{name}.log"


@dataclasses.dataclass(frozen=True)
class Built:
    """An image archive in the cache, with what its build recorded."""

    image: Image
    archive: Path
    manifest_digest: str
    size: int
    seconds: float  # how long its build took (the cold time, even when this run found it cached)
    cached: bool  # True when this run did not build it


def archive(image: Image) -> Path | None:
    """The cached archive for the image's current inputs, or None when it must be built."""
    path = image_dir(image) / "image.oci.tar"
    return path if path.is_file() and (path.parent / "build.json").is_file() else None


def _load_built(image: Image) -> Built | None:
    path = archive(image)
    if path is None:
        return None
    record = json.loads((path.parent / "build.json").read_text())
    return Built(image, path, record["manifest_digest"], path.stat().st_size, record["seconds"], cached=True)


def preflight() -> None:
    """Fail in one paragraph when this machine cannot build images."""
    problems = []
    if os.geteuid() != 0:
        problems.append("it must run as root (mmdebstrap --mode=root, overlay and bind mounts)")
    for tool in ("mmdebstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` is not installed (scripts/setup.sh installs it)")
    if problems:
        raise errors.DevClusterError(
            "Cannot build the dev cluster's images here: " + "; ".join(problems) + ". The images are built from "
            "Debian packages and PyPI into root filesystems, which needs a Debian machine with root."
        )


class _Progress:
    """Progress lines, one writer at a time, and a heartbeat for long steps (which step, for how long, and the
    last line of its log)."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, float, Path]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def say(self, who: str, text: str) -> None:
        with self._lock:
            self._report(f"{who}: {text}")

    def step(self, who: str, text: str, log: Path) -> None:
        self.say(who, f"{text} ...")
        with self._lock:
            self._running[who] = (text, time.monotonic(), log)

    def done(self, who: str) -> None:
        with self._lock:
            self._running.pop(who, None)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with self._lock:
                running = list(self._running.items())
            for who, (text, since, log) in running:
                self.say(who, f"still {text} ({time.monotonic() - since:.0f} s){_last_line(log)}")


def _last_line(log: Path) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
            lines = [line for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()[:120]}" if lines else ""


def _fail(what: str, log: Path) -> errors.DevClusterError:
    try:
        tail = "\n".join(log.read_text(errors="replace").rstrip().splitlines()[-LOG_TAIL_LINES:])
    except OSError:
        tail = "(no log)"
    return errors.DevClusterError(f"{what} failed; its log is {log}. The last lines:\n{tail}")


def _load_layer(record: Path) -> oci.PackedLayer | None:
    try:
        layer = oci.PackedLayer.from_json(json.loads(record.read_text()))
    except (OSError, ValueError, KeyError):
        return None
    return layer if layer.path.is_file() and layer.path.stat().st_size == layer.size else None


def ensure_base(base: Base, progress: _Progress) -> tuple[Path, oci.PackedLayer]:
    """The base's root filesystem and packed layer, built by mmdebstrap unless cached."""
    where = base_dir(base)
    rootfs_dir, layer_file, record = where / "rootfs", where / "layer.tar.gz", where / "layer.json"
    layer = _load_layer(record)
    if layer is not None and rootfs_dir.is_dir():
        return rootfs_dir, layer
    who = f"base {base.name}"
    log = log_path(base)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    started = time.monotonic()
    partial = where / "rootfs.partial"
    if partial.exists():
        shutil.rmtree(partial)
    where.mkdir(parents=True, exist_ok=True)
    if not rootfs_dir.is_dir():
        progress.step(who, f"Debian {base.suite} minbase + {', '.join(base.packages)} (mmdebstrap)", log)
        code = rootfs.run_logged(rootfs.mmdebstrap_argv(base, partial), log=log)
        progress.done(who)
        if code != 0:
            raise _fail(f"Building the Debian {base.suite} base ({base.name})", log)
        partial.replace(rootfs_dir)
    progress.step(who, "packing the base layer", log)
    layer = oci.pack_layer(oci.Layer.from_directory(rootfs_dir), layer_file, compresslevel=COMPRESSLEVEL)
    progress.done(who)
    record.write_text(json.dumps(layer.as_json(), indent=2))
    progress.say(who, f"built in {time.monotonic() - started:.0f} s, layer {layer.size / 1e6:.0f} MB")
    return rootfs_dir, layer


def _build_go(image: Image, stage: Path, log: Path) -> None:
    assert image.go is not None
    go = toolchain.find()
    if go is None:
        raise errors.DevClusterError(
            "No Go 1.21+ found (PATH, /usr/local/go): run `airpool dev build`, which fetches one into the cache."
        )
    module_dir = TOOLS_DIR / image.go.module_dir
    version = binaries.module_version(module_dir / "go.mod", image.go.package)
    ldflags = ["-s", "-w", *(f"-X {flag.format(version=version)}" for flag in image.go.version_ldflags)]
    target = stage / "go-binary"
    env = {**os.environ, "CGO_ENABLED": "0"}
    argv = [go, "build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", str(target), image.go.package]
    if rootfs.run_logged(argv, log=log, cwd=module_dir, env=env) != 0:
        raise _fail(f"Building {image.go.package} {version}", log)


def _build_wheel(stage: Path, log: Path) -> None:
    """airpool's wheel, from a copy of the sources (the checkout stays clean)."""
    tree = stage.parent / "project"
    for path in project_files():
        target = tree / path.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    wheels = stage / "wheels"
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q", "-w", str(wheels), str(tree)]
    if rootfs.run_logged(argv, log=log) != 0:
        raise _fail("Building airpool's wheel", log)


def inner_script(image: Image) -> str:
    """The shell lines run as root inside the image (after the staged files are in /tmp/airpool-build)."""
    stage = rootfs.STAGE_IN_IMAGE
    lines = [*image.pre_install]
    if image.packages:
        lines += [
            "apt-get update -qq",
            f"apt-get install -y -qq --no-install-recommends {' '.join(image.packages)}",
        ]
    for path, source, mode in image.files:
        lines.append(f"install -D -m {mode:o} {stage}/files/{source} {shlex.quote(path)}")
    if image.go is not None:
        lines.append(f"install -D -m 755 {stage}/go-binary {shlex.quote(image.go.target)}")
    if image.venv is not None:
        venv = image.venv
        lines.append(f"python3 -m venv {venv.path}")
        pip = [f"{venv.path}/bin/pip", "install", "--no-cache-dir"]
        if venv.constraints:
            pip += ["--constraint", f"{stage}/constraints.txt"]
        command = " ".join([*map(shlex.quote, pip), *map(shlex.quote, venv.requirements)])
        if venv.project_wheel:
            command += f" {stage}/wheels/*.whl"
        # pip only warns about an extra it does not know (a misspelt one installs nothing): that fails the build
        lines.append(f"{command} 2>&1 | tee {stage}/pip.log")
        lines.append(f"! grep -F 'does not provide the extra' {stage}/pip.log")
        lines.append(f"{venv.path}/bin/pip check")
    lines += list(image.post_install)
    return "\n".join(lines) + "\n"


def _stage(image: Image, stage: Path, log: Path, progress: _Progress) -> None:
    who = image.key_name
    stage.mkdir(parents=True)
    for _, source, _ in image.files:
        (stage / "files").mkdir(exist_ok=True)
        shutil.copy2(TOOLS_DIR / "files" / source, stage / "files" / source)
    if image.venv is not None and image.venv.constraints:
        shutil.copy2(TOOLS_DIR / image.venv.constraints, stage / "constraints.txt")
    if image.go is not None:
        progress.step(who, f"go build {image.go.package}", log)
        _build_go(image, stage, log)
        progress.done(who)
    if image.venv is not None and image.venv.project_wheel:
        progress.step(who, "building airpool's wheel", log)
        _build_wheel(stage, log)
        progress.done(who)


def _what(image: Image) -> str:
    parts = []
    if image.packages:
        parts.append(f"apt-get install {' '.join(image.packages)}")
    if image.venv is not None:
        parts.append(
            f"pip install {' '.join(image.venv.requirements) or 'the airpool wheel'}"
            + (" (constrained)" if image.venv.constraints else "")
        )
    return "; ".join(parts) or "installing files"


def ensure_image(image: Image, base: tuple[Path, oci.PackedLayer], progress: _Progress) -> Built:
    cached = _load_built(image)
    if cached is not None:
        return cached
    who = image.key_name
    log = log_path(image)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    started = time.monotonic()
    final = image_dir(image)
    work = final.with_name(final.name + ".work")
    if work.exists():
        shutil.rmtree(work)
    try:
        _stage(image, work / "stage", log, progress)
        lower, base_layer = base
        progress.step(who, _what(image), log)
        code = rootfs.run_step(
            lower=lower,
            upper=work / "upper",
            work=work / "overlay-work",
            merged=work / "merged",
            stage=work / "stage",
            inner=inner_script(image),
            log=log,
        )
        progress.done(who)
        if code != 0:
            raise _fail(f"Building {image.reference}", log)
        progress.step(who, "packing the image", log)
        config = oci.ImageConfig(
            user=image.user,
            entrypoint=list(image.entrypoint),
            cmd=list(image.cmd),
            env=dict(image.env),
            working_dir=image.workdir,
            labels={
                "org.opencontainers.image.title": image.name,
                "org.opencontainers.image.version": image.tag,
                "org.opencontainers.image.description": image.summary,
                "io.airpool.image.key": image_key(image),
            },
        )
        out = work / "image.oci.tar"
        own = oci.Layer.from_directory(work / "upper", overlay_upper=True)
        written = oci.write_image(
            out, reference=image.reference, layers=[base_layer, own], config=config, compresslevel=COMPRESSLEVEL
        )
        digest = written.digest
        progress.done(who)
        seconds = round(time.monotonic() - started, 1)
        (work / "build.json").write_text(
            json.dumps({"reference": image.reference, "manifest_digest": digest, "seconds": seconds}, indent=2)
        )
        final.mkdir(parents=True, exist_ok=True)
        (work / "build.json").replace(final / "build.json")
        out.replace(final / "image.oci.tar")
    finally:
        progress.done(who)
        if work.exists():
            subprocess.run(["rm", "-rf", str(work)], check=False)
    built = _load_built(image)
    assert built is not None
    progress.say(who, f"built in {built.seconds:.0f} s, {built.size / 1e6:.0f} MB -> {built.archive}")
    return dataclasses.replace(built, cached=False)


@contextlib.contextmanager
def _locked(report: Report) -> Iterator[None]:
    """One builder at a time per cache: a second one waits, then finds the first one's results cached."""
    lock = cache_dir() / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report(f"another image build holds {lock}; waiting for it to finish ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build(images: Iterable[Image], *, report: Report, jobs: int = 2) -> list[Built]:
    """Build every image not cached yet (bases first, up to ``jobs`` at once); all of them, in the given order."""
    wanted = list(images)
    results: dict[str, Built] = {}
    todo = []
    for image in wanted:
        cached = _load_built(image)
        if cached is not None:
            results[image.key_name] = cached
            report(f"{image.key_name}: cached ({cached.size / 1e6:.0f} MB) {cached.archive}")
        else:
            todo.append(image)
    if todo:
        preflight()
        with _locked(report), _Progress(report) as progress, concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            bases = {image.base.name: image.base for image in todo}
            base_futures = {name: pool.submit(ensure_base, base, progress) for name, base in bases.items()}

            def one(image: Image) -> Built:
                return ensure_image(image, base_futures[image.base.name].result(), progress)

            futures = {image.key_name: pool.submit(one, image) for image in todo}
            failures = []
            for name, future in futures.items():
                try:
                    results[name] = future.result()
                except errors.DevClusterError as exc:
                    failures.append(str(exc))
            if failures:
                raise errors.DevClusterError("\n\n".join(failures))
    return [results[image.key_name] for image in wanted]
