"""``airpool dev build``: a no-op when the cache is complete, and a clear failure with go's own words when not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airpool.devcluster import binaries, build, errors, images

AIRPOOL = str(Path(sys.executable).parent / "airpool")


def test_versions_come_from_the_go_modules() -> None:
    assert binaries.KUBERNETES.version.startswith("v1.34.")
    assert binaries.ETCD.version.startswith("v3.6.")
    assert binaries.KWOK.version.startswith("v0.8.")
    assert (
        binaries.KUBERNETES.binary("kube-apiserver").parent.parent.name == f"kubernetes-{binaries.KUBERNETES.version}"
    )


def test_build_does_nothing_when_everything_is_cached() -> None:
    assert binaries.missing(real_node=True) == [], "run `airpool dev build` (scripts/setup.sh does) before the tests"
    result = subprocess.run([AIRPOOL, "dev", "build"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    programs = sum(len(component.packages) for component in (*binaries.COMPONENTS, *binaries.TOOLS))
    # every program, kwok's stages, the two node images and, as root, the images `airpool dev images` builds
    container_images = len(images.IMAGES) if os.geteuid() == 0 else 0
    assert result.stdout.count(": cached") == programs + 3 + container_images
    assert result.stdout.strip().endswith("nothing to build")


@pytest.mark.slow
def test_a_failing_go_build_names_the_binary_and_shows_go_output() -> None:
    broken = binaries.Component(
        name="kwok", module="sigs.k8s.io/kwok", packages={"kwok-missing": "sigs.k8s.io/kwok/cmd/no-such-command"}
    )
    with pytest.raises(errors.DevClusterError) as failed:
        build.build_binary(broken, "kwok-missing")
    message = failed.value.message
    assert message.startswith(f"Building kwok-missing {binaries.KWOK.version} failed: `")
    assert "exited with 1" in message
    assert "no-such-command" in message.split("The last lines of its output:\n", 1)[1]
    assert not broken.binary("kwok-missing").exists()


def test_kubernetes_binaries_report_their_real_version() -> None:
    flags = build.ldflags(binaries.KUBERNETES)
    version = binaries.KUBERNETES.version
    assert f"-X k8s.io/component-base/version.gitVersion={version}" in flags
    assert f"-X k8s.io/client-go/pkg/version.gitMinor={version.split('.')[1]}" in flags
    result = subprocess.run(
        [str(binaries.KUBERNETES.binary("kube-apiserver")), "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip() == f"Kubernetes {version}"
