"""Where the control-plane binaries live: a cache outside the repo, keyed by the versions pinned in tools/k8s.

The Go modules under ``tools/k8s`` are the single source of the versions: this module reads them from the
``go.mod`` files, so bumping a version there is enough to make ``airpool dev build`` build the new one and
``airpool dev up`` look for it. Reading a ``go.mod`` needs no Go toolchain, so ``dev up`` works without one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

from airpool.devcluster import errors

TOOLS_DIR = Path(__file__).resolve().parents[3] / "tools" / "k8s"

KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Component:
    """One Go module in tools/k8s and the binaries built from it."""

    name: str  # the directory under tools/k8s and the cache prefix
    module: str | None  # the Go module that holds the main packages (None: the wrapper's own main.go)
    packages: dict[str, str]  # binary name -> Go package to build
    ldflags_version: bool = False  # stamp k8s version variables (Kubernetes reports v0.0.0-master otherwise)
    node: bool = False  # needed only by the real node (``dev up --real-node``)
    own_main: bool = False  # the wrapper has its own main.go: its digest is part of the cache key too
    version_variable: str | None = None  # a Go string variable that holds the version (-X), for other modules

    @property
    def module_dir(self) -> Path:
        return TOOLS_DIR / self.name

    @property
    def version(self) -> str:
        if self.module is None:
            return source_version(self.module_dir)
        return module_version(self.module_dir / "go.mod", self.module)

    @property
    def cache_dir(self) -> Path:
        key = f"{self.version}-{source_version(self.module_dir)}" if self.own_main else self.version
        return k8s_cache_root() / f"{self.name}-{key}"

    def binary(self, name: str) -> Path:
        override = bin_dir_override()
        return override / name if override is not None else self.cache_dir / "bin" / name


KUBERNETES = Component(
    name="kubernetes",
    module="k8s.io/kubernetes",
    packages={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    },
    ldflags_version=True,
)
# The node's kubelet and kube-proxy: the same module tree, version and flags as the API server.
KUBERNETES_NODE = dataclasses.replace(
    KUBERNETES,
    packages={"kubelet": "k8s.io/kubernetes/cmd/kubelet", "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy"},
    node=True,
)
ETCD = Component(name="etcd", module="go.etcd.io/etcd/server/v3", packages={"etcd": "go.etcd.io/etcd/server/v3"})
KWOK = Component(name="kwok", module="sigs.k8s.io/kwok", packages={"kwok": "sigs.k8s.io/kwok/cmd/kwok"})
COREDNS = Component(
    name="coredns", module="github.com/coredns/coredns", packages={"coredns": "."}, node=True, own_main=True
)
LOCAL_PATH = Component(
    name="local-path-provisioner",
    module="github.com/rancher/local-path-provisioner",
    packages={"local-path-provisioner": "github.com/rancher/local-path-provisioner"},
    node=True,
)
PAUSE = Component(name="pause", module=None, packages={"pause": "."}, node=True)
COMPONENTS = (KUBERNETES, ETCD, KWOK, KUBERNETES_NODE, COREDNS, LOCAL_PATH, PAUSE)
#: Built by ``dev build`` too, but not needed by ``dev up``: helm installs airpool's own chart (charts/airpool).
HELM = Component(
    name="helm",
    module="helm.sh/helm/v3",
    packages={"helm": "helm.sh/helm/v3/cmd/helm"},
    version_variable="helm.sh/helm/v3/internal/version.version",
)
#: Dex, the OpenID Connect provider the single sign-on tests log in through (a real one, run on loopback).
DEX = Component(
    name="dex",
    module="github.com/dexidp/dex",
    packages={"dex": "github.com/dexidp/dex/cmd/dex"},
    version_variable="main.version",
)
TOOLS = (HELM, DEX)


def cache_root() -> Path:
    return Path(os.environ.get("AIRPOOL_CACHE_DIR") or Path.home() / ".cache" / "airpool")


def k8s_cache_root() -> Path:
    return cache_root() / "k8s"


def bin_dir_override() -> Path | None:
    """``AIRPOOL_K8S_BIN_DIR``: one flat directory holding every binary, instead of the versioned cache."""
    value = os.environ.get("AIRPOOL_K8S_BIN_DIR")
    return Path(value) if value else None


def stages_dir() -> Path:
    return KWOK.cache_dir / "stages"


def stage_files() -> list[Path]:
    return [stages_dir() / Path(stage).name for stage in KWOK_STAGES]


def module_version(go_mod: Path, module: str) -> str:
    """The version ``go_mod`` requires of ``module`` (a ``require`` line, direct or ``// indirect``)."""
    try:
        text = go_mod.read_text()
    except OSError as exc:
        raise errors.DevClusterError(
            f"Cannot read {go_mod} ({exc.strerror}): the Go modules in tools/k8s pin the control-plane versions, "
            "so airpool must run from a checkout of its repository."
        ) from exc
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, flags=re.MULTILINE)
    if match is None:
        raise errors.DevClusterError(f"{go_mod} does not require {module}; add it with `go get {module}@<version>`.")
    return match.group(1)


def source_version(module_dir: Path) -> str:
    """A version for a wrapper module of our own (no upstream release): a digest of its source files."""
    digest = hashlib.sha256()
    for path in [*sorted(module_dir.glob("*.go")), module_dir / "go.mod"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"src-{digest.hexdigest()[:12]}"


def missing(*, real_node: bool = False) -> list[Path]:
    """Every binary or kwok stage file that ``dev up`` (``--real-node``: also the node's) needs and cannot find."""
    paths = [
        component.binary(name)
        for component in COMPONENTS
        if real_node or not component.node
        for name in component.packages
    ]
    return [path for path in [*paths, *stage_files()] if not path.is_file()]


def require_all(*, real_node: bool = False) -> None:
    """Fail with one paragraph that says what is missing and how to get it."""
    absent = missing(real_node=real_node)
    if not absent:
        return
    where = (
        f"the directory AIRPOOL_K8S_BIN_DIR points at ({bin_dir_override()})"
        if bin_dir_override()
        else f"the cache {k8s_cache_root()}"
    )
    names = ", ".join(path.name for path in absent)
    raise errors.DevClusterError(
        f"The local control plane cannot start: {names} not found in {where}. "
        "Run `airpool dev build` to build them from the Go modules in tools/k8s (needs Go and the module proxy; "
        "the first build takes several minutes)"
        + (", or point AIRPOOL_K8S_BIN_DIR at a directory that holds them." if bin_dir_override() else ".")
    )
