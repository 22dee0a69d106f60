"""How DAGs reach a Deployment: baked into the image (the default) or read from an NFS export.

One definition for every entry point (GraphQL, UI form, CLI) and for commander, which reads the same shape from
the install job's payload (``{"type": "nfs", "nfs_location": "server:/path"}``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from airpool.domain.errors import InvalidInput

NFS_LOCATION_FORM = (
    "server:/path (a host name or IP address, then an absolute path; e.g. nfs.example.com:/exports/dags)"
)
NFS_PATH_MAX = 1024
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_HOST_MAX = 253

#: The explanation of Astronomer's namespace-pool guide; commander's preflight says the same if such a job gets there.
NFS_WITHOUT_CLUSTER_ROLES = (
    "NFS DAG deploys don't work if you both use namespace pools and set global.clusterRoles to false in your "
    "values.yaml file: an NFS DAG deploy needs a PersistentVolume, which is cluster-scoped, and commander may "
    "only work inside the pool's namespaces. Use image-based DAG deploys, or set global.clusterRoles to true."
)


class DagDeployType(StrEnum):
    IMAGE = "image"
    NFS = "nfs"


@dataclass(frozen=True)
class DagDeploy:
    """A validated choice: ``nfs_location`` is set exactly when the type is NFS."""

    type: DagDeployType = DagDeployType.IMAGE
    nfs_location: str | None = None

    @property
    def is_nfs(self) -> bool:
        return self.type is DagDeployType.NFS

    def payload(self) -> dict[str, str]:
        """The job payload / database shape commander reads."""
        if self.nfs_location is None:
            return {"type": self.type.value}
        return {"type": self.type.value, "nfs_location": self.nfs_location}


IMAGE = DagDeploy()


def _host_problem(server: str) -> str | None:
    if server.startswith("[") and server.endswith("]"):
        try:
            ipaddress.IPv6Address(server[1:-1])
        except ValueError:
            return f"server {server!r} is not an IPv6 address"
        return None
    try:
        ipaddress.IPv4Address(server)
        return None
    except ValueError:
        pass
    labels = server.rstrip(".").split(".")
    if len(server) > _HOST_MAX or not all(_HOST_LABEL.match(label) for label in labels):
        return f"server {server!r} is not a host name or IP address"
    if labels[-1].isdigit():
        return f"server {server!r} is not a valid IPv4 address"
    return None


def _path_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return f"path {path!r} is not absolute"
    if len(path) > NFS_PATH_MAX:
        return f"path is {len(path)} characters long; at most {NFS_PATH_MAX} are allowed"
    if any(ch.isspace() or not ch.isprintable() for ch in path):
        return "path contains whitespace or control characters"
    if ".." in path.split("/"):
        return "path contains a '..' segment"
    return None


def split_nfs_location(location: str) -> tuple[str, str]:
    """``server:/path`` -> (server, path); an IPv6 server is written in brackets (``[fd00::1]:/dags``)."""
    if location.startswith("["):
        end = location.find("]")
        server, rest = (location[: end + 1], location[end + 1 :]) if end > 0 else (location, "")
        sep, path = rest[:1], rest[1:]
    else:
        server, sep, path = location.partition(":")
    if not location:
        problem: str | None = "is empty"
    elif sep != ":":
        problem = "has no ':' between the server and the path"
    elif not server:
        problem = "has no server part"
    else:
        problem = _host_problem(server) or _path_problem(path)
    if problem:
        shown = location if len(location) <= 80 else location[:77] + "..."
        raise InvalidInput(f"nfsLocation {shown!r}: {problem}; use {NFS_LOCATION_FORM}")
    return server, path


def parse(kind: str | None, nfs_location: str | None = None) -> DagDeploy:
    """Check a request: no type (or ``image``) is the default; ``nfs`` needs an ``nfs_location``."""
    kind = (kind or "").strip().lower() or DagDeployType.IMAGE.value
    location = (nfs_location or "").strip() or None
    if kind == DagDeployType.IMAGE.value:
        if location is not None:
            raise InvalidInput("nfsLocation is only allowed with dagDeployment type nfs; the type here is image")
        return IMAGE
    if kind != DagDeployType.NFS.value:
        raise InvalidInput(f"dagDeployment type {kind!r} is not supported; allowed: image (the default), nfs")
    if location is None:
        raise InvalidInput(f"dagDeployment type nfs needs an nfsLocation of the form {NFS_LOCATION_FORM}")
    split_nfs_location(location)
    return DagDeploy(type=DagDeployType.NFS, nfs_location=location)


def from_payload(raw: Mapping[str, object] | None) -> DagDeploy:
    """The stored / queued shape back (absent = image)."""
    if not raw:
        return IMAGE
    location = raw.get("nfs_location")
    return parse(str(raw.get("type") or ""), str(location) if location is not None else None)
