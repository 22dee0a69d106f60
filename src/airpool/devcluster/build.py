"""Build the dev cluster's binaries from the Go modules in tools/k8s into the versioned cache.

The control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) and the real node's
programs (kubelet, kube-proxy, CoreDNS, local-path-provisioner, pause), then the node's two small images (pause,
busybox; ``images.node``). A long ``go build`` reports its progress every 30 seconds.

No registry ships kube-apiserver, so ``go build`` through the module proxy is the only way to get it here. A
binary already in the cache is never rebuilt: the cache directory is keyed by the version the go.mod pins, so a
version bump is a new directory. Binaries are built into a temporary name and renamed when complete, so an
interrupted build never leaves a binary that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from airpool.devcluster import binaries, errors, toolchain

OUTPUT_TAIL_LINES = 25
VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


def _go() -> str:
    go = toolchain.find()
    if go is None:
        raise errors.DevClusterError(
            "No Go 1.21+ found (PATH, /usr/local/go): run `airpool dev build`, which fetches one into the cache."
        )
    return go


def ldflags(component: binaries.Component) -> str:
    flags = ["-s", "-w"]
    if component.version_variable:
        flags.append(f"-X {component.version_variable}={component.version}")
    if component.ldflags_version:
        version = component.version
        major, minor = version.lstrip("v").split(".")[:2]
        for package in VERSION_PACKAGES:
            flags += [
                f"-X {package}.gitVersion={version}",
                f"-X {package}.gitMajor={major}",
                f"-X {package}.gitMinor={minor}",
                f"-X {package}.gitTreeState=clean",
            ]
    return " ".join(flags)


def _run(argv: list[str], *, cwd: Path, what: str) -> str:
    env = {**os.environ, "CGO_ENABLED": "0"}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).rstrip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise errors.DevClusterError(
            f"Building {what} failed: `{' '.join(argv)}` in {cwd} exited with {result.returncode}. "
            f"The last lines of its output:\n{tail}"
        )
    return result.stdout


def _dependency_count(component: binaries.Component, name: str) -> int | None:
    try:
        listing = _run([_go(), "list", "-deps", component.packages[name]], cwd=component.module_dir, what="go list")
    except errors.DevClusterError:
        return None  # only for the progress line; the build itself will say what is wrong
    return len(listing.splitlines())


def build_binary(
    component: binaries.Component, name: str, *, report: Callable[[str], None] | None = None, every: float = 30.0
) -> Path:
    """``go build`` one binary into the cache; with ``report``, a progress line every ``every`` seconds."""
    target = component.binary(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.{os.getpid()}.partial")  # two builds at once never share a file
    argv = [_go(), "build", "-v", "-trimpath", "-ldflags", ldflags(component), "-o", str(partial)]
    argv.append(component.packages[name])
    total = _dependency_count(component, name) if report else None
    env = {**os.environ, "CGO_ENABLED": "0"}
    started = time.monotonic()
    lines: list[str] = []
    compiled = 0
    next_report = started + every
    with subprocess.Popen(
        argv, cwd=component.module_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if not line.startswith(("go: ", "#")) and " " not in line.strip():
                compiled += 1  # `go build -v` names each package it compiles
            if report is not None and time.monotonic() >= next_report:
                of = f" of the {total} it depends on" if total else ""
                report(f"  {name}: {compiled} packages compiled{of}, {time.monotonic() - started:.0f} s so far")
                next_report = time.monotonic() + every
        code = process.wait()
    if code != 0:
        errors_only = [line for line in lines if not (" " not in line.strip() and line and not line.startswith("#"))]
        tail = "\n".join(errors_only[-OUTPUT_TAIL_LINES:])
        raise errors.DevClusterError(
            f"Building {name} {component.version} failed: `{' '.join(argv)}` in {component.module_dir} exited with "
            f"{code}. The last lines of its output:\n{tail}"
        )
    partial.replace(target)
    return target


def _record(component: binaries.Component, name: str, *, seconds: float) -> None:
    """Keep the build time next to the binary: bench/devcluster_up.py reports it as the cold build time."""
    record = component.cache_dir / "build.json"
    try:
        entries = json.loads(record.read_text())
    except (OSError, ValueError):
        entries = {}
    go_version = _run([_go(), "env", "GOVERSION"], cwd=component.module_dir, what="go env").strip()
    entries[name] = {"seconds": round(seconds, 1), "version": component.version, "go": go_version}
    record.write_text(json.dumps(entries, indent=2))


def copy_stages() -> None:
    """Copy kwok's stage files out of the module cache: kwok refuses to start without any stage."""
    kwok = binaries.KWOK
    listing = _run(
        [_go(), "mod", "download", "-json", f"{kwok.module}@{kwok.version}"],
        cwd=kwok.module_dir,
        what=f"the kwok {kwok.version} source (for its stage files)",
    )
    source = Path(json.loads(listing)["Dir"]) / "kustomize" / "stage"
    target = binaries.stages_dir()
    target.mkdir(parents=True, exist_ok=True)
    for stage in binaries.KWOK_STAGES:
        destination = target / Path(stage).name
        shutil.copyfile(source / stage, destination)
        destination.chmod(0o644)  # the module cache is read-only, its copies need not be


def build_all(*, report: Callable[[str], None]) -> bool:
    """Build whatever is missing, reporting each step; True when something was built."""
    if binaries.bin_dir_override() is not None:
        raise errors.DevClusterError(
            f"AIRPOOL_K8S_BIN_DIR is set ({binaries.bin_dir_override()}), so airpool uses the binaries there and "
            "does not build any: unset it to build into the cache."
        )
    built = False
    tools_missing = not all(tool.binary(n).is_file() for tool in binaries.TOOLS for n in tool.packages)
    if binaries.missing(real_node=True) or tools_missing:
        toolchain.ensure(report=report)
    for component in (*binaries.COMPONENTS, *binaries.TOOLS):
        for name in component.packages:
            target = component.binary(name)
            if target.is_file():
                report(f"{name} {component.version}: cached at {target}")
                continue
            report(f"{name} {component.version}: building (go build {component.packages[name]}) ...")
            started = time.monotonic()
            build_binary(component, name, report=report)
            seconds = time.monotonic() - started
            _record(component, name, seconds=seconds)
            report(f"{name} {component.version}: built in {seconds:.0f} s -> {target}")
            built = True
    if all(path.is_file() for path in binaries.stage_files()):
        report(f"kwok stages: cached in {binaries.stages_dir()}")
    else:
        copy_stages()
        report(f"kwok stages: copied into {binaries.stages_dir()}")
        built = True
    from airpool.devcluster.images import node as node_images

    cached = [path for path in (node_images.pause_archive(), node_images.busybox_archive()) if path.is_file()]
    node_images.ensure(report=report)
    return built or len(cached) < 2
