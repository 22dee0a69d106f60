"""How DAGs reach a Deployment: baked into the image (the default), read from an NFS export, or pulled from a git
repository by git-sync.

One definition for every entry point (GraphQL, UI form, CLI) and for commander, which reads the same shape from
the Deployment record and the install job's payload (``{"type": "nfs", "nfs_location": "server:/path"}``,
``{"type": "git_sync", "repository_url": ..., "sync_interval": 60, ...}``). A git-sync SSH key and known hosts
are secrets: they are checked here (``GitCredentials``) but never part of that shape; the services keep them in a
table of their own and commander delivers them as a Kubernetes Secret.
"""

from __future__ import annotations

import base64
import binascii
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
    GIT_SYNC = "git_sync"


@dataclass(frozen=True)
class GitSync:
    """git-sync settings (Houston's names: repositoryUrl, branchName, rev, dagDirectoryLocation, syncInterval).

    ``ref`` is what git-sync checks out: ``rev`` (a tag or commit) when given, else the branch, else the
    repository's default branch (``HEAD``). ``ssh`` tells whether the Deployment has an SSH key (the key itself is
    a secret and is not part of this shape); ``known_hosts`` whether host keys are checked."""

    repository_url: str
    branch_name: str | None = None
    rev: str | None = None
    dag_directory_location: str = ""
    sync_interval: int = 60
    ssh: bool = False
    known_hosts: bool = False

    @property
    def ref(self) -> str:
        return self.rev or self.branch_name or "HEAD"

    def payload(self) -> dict[str, object]:
        out: dict[str, object] = {
            "repository_url": self.repository_url,
            "dag_directory_location": self.dag_directory_location,
            "sync_interval": self.sync_interval,
            "ssh": self.ssh,
            "known_hosts": self.known_hosts,
        }
        if self.branch_name:
            out["branch_name"] = self.branch_name
        if self.rev:
            out["rev"] = self.rev
        return out


@dataclass(frozen=True)
class DagDeploy:
    """A validated choice: ``nfs_location`` is set exactly when the type is NFS, ``git`` exactly for git-sync."""

    type: DagDeployType = DagDeployType.IMAGE
    nfs_location: str | None = None
    git: GitSync | None = None

    @property
    def is_nfs(self) -> bool:
        return self.type is DagDeployType.NFS

    @property
    def is_git_sync(self) -> bool:
        return self.type is DagDeployType.GIT_SYNC

    def payload(self) -> dict[str, object]:
        """The job payload / database shape commander reads (never a secret)."""
        if self.git is not None:
            return {"type": self.type.value, **self.git.payload()}
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


def parse(
    kind: str | None,
    nfs_location: str | None = None,
    git: Mapping[str, object] | None = None,
    *,
    credentials: GitCredentials | None = None,
) -> DagDeploy:
    """Check a request: no type (or ``image``) is the default; ``nfs`` needs an ``nfs_location``; ``git_sync``
    needs ``git`` (``repository_url``, optional ``branch_name``, ``rev``, ``dag_directory_location``,
    ``sync_interval``) and ``credentials`` says whether an SSH key / known hosts come with it."""
    kind = (kind or "").strip().lower() or DagDeployType.IMAGE.value
    location = (nfs_location or "").strip() or None
    given_git = {k: v for k, v in (git or {}).items() if v not in (None, "")}
    if kind != DagDeployType.GIT_SYNC.value:
        extra = sorted(set(given_git) - {"ssh", "known_hosts"})
        field = _HOUSTON_FIELDS.get(extra[0], extra[0]) if extra else None
        if field is None and credentials is not None and credentials.given:
            field = credentials.first_given()
        if field is not None:
            raise InvalidInput(
                f"dagDeployment.{field} is a git-sync setting; it is only allowed with dagDeployment type git_sync "
                f"(the type here is {kind})"
            )
    if kind == DagDeployType.IMAGE.value:
        if location is not None:
            raise InvalidInput("nfsLocation is only allowed with dagDeployment type nfs; the type here is image")
        return IMAGE
    if kind == DagDeployType.GIT_SYNC.value:
        if location is not None:
            raise InvalidInput("nfsLocation is only allowed with dagDeployment type nfs; the type here is git_sync")
        return DagDeploy(type=DagDeployType.GIT_SYNC, git=parse_git_sync(given_git, credentials=credentials))
    if kind != DagDeployType.NFS.value:
        raise InvalidInput(f"dagDeployment type {kind!r} is not supported; allowed: image (the default), nfs, git_sync")
    if location is None:
        raise InvalidInput(f"dagDeployment type nfs needs an nfsLocation of the form {NFS_LOCATION_FORM}")
    split_nfs_location(location)
    return DagDeploy(type=DagDeployType.NFS, nfs_location=location)


def from_payload(raw: Mapping[str, object] | None) -> DagDeploy:
    """The stored / queued shape back (absent = image)."""
    if not raw:
        return IMAGE
    location = raw.get("nfs_location")
    git = {k: v for k, v in raw.items() if k not in ("type", "nfs_location")}
    return parse(str(raw.get("type") or ""), str(location) if location is not None else None, git)


# -- git-sync ---------------------------------------------------------------------------------------------------

#: Houston's (camelCase) name of each git-sync setting, for messages.
_HOUSTON_FIELDS = {
    "repository_url": "repositoryUrl",
    "branch_name": "branchName",
    "rev": "rev",
    "dag_directory_location": "dagDirectoryLocation",
    "sync_interval": "syncInterval",
    "ssh_key": "sshKey",
    "known_hosts": "knownHosts",
}
GIT_URL_FORMS = (
    "ssh://[user@]host[:port]/path, [user@]host:path (SSH), https://host/path, http://host/path or git://host/path"
)
GIT_URL_MAX = 2048
SYNC_INTERVAL_RANGE = (1, 86_400)
DEFAULT_SYNC_INTERVAL = 60
#: Largest SSH private key / known hosts text accepted (an RSA 16384-bit key in OpenSSH form is ~12 KiB).
SSH_KEY_MAX = 16 * 1024
KNOWN_HOSTS_MAX = 64 * 1024
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?!//)(.+)$")
_URL = re.compile(r"^(ssh|https?|git)://(?:[^@/\s]+@)?([^/:\s]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?(/.*)$")
_KNOWN_HOST_TYPES = re.compile(r"^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+=*$")


@dataclass(frozen=True, repr=False)
class GitCredentials:
    """What a request gave for git-sync's SSH: ``None`` = not given (keep what is stored), ``""`` = remove.
    ``repr`` is hidden: a logged request never carries a key."""

    ssh_key: str | None = None
    known_hosts: str | None = None

    def __repr__(self) -> str:
        return "GitCredentials(<hidden>)"

    @property
    def given(self) -> bool:
        return bool(self.ssh_key) or bool(self.known_hosts)

    def first_given(self) -> str:
        return "sshKey" if self.ssh_key else "knownHosts"


def is_ssh_url(url: str) -> bool:
    return url.startswith("ssh://") or (
        "://" not in url and _SCP_LIKE.match(url) is not None and not url.startswith("/")
    )


def _shown(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")


def check_repository_url(url: str) -> str:
    url = url.strip()
    problem: str | None = None
    if not url:
        problem = "is empty"
    elif len(url) > GIT_URL_MAX:
        problem = f"is {len(url)} characters long; at most {GIT_URL_MAX} are allowed"
    elif any(ch.isspace() or not ch.isprintable() for ch in url):
        problem = "contains whitespace or control characters"
    elif url.startswith("-"):
        problem = "starts with '-'"
    elif "://" in url:
        match = _URL.match(url)
        if match is None:
            scheme = url.split("://", 1)[0]
            problem = (
                f"uses scheme {scheme!r}, which git-sync cannot fetch here"
                if scheme not in ("ssh", "http", "https", "git")
                else "is not of the form scheme://host/path"
            )
        elif match.group(3) is not None and not 0 < int(match.group(3)) < 65536:
            problem = f"has port {match.group(3)}, which is not between 1 and 65535"
        elif _host_problem(match.group(2)):
            problem = f"has host {match.group(2)!r}, which is not a host name or IP address"
        elif match.group(4) in ("", "/"):
            problem = "names no repository path"
    else:
        scp = _SCP_LIKE.match(url)
        if scp is None:
            problem = "is neither a URL nor of the SSH form [user@]host:path"
        elif _host_problem(scp.group(1)):
            problem = f"has host {scp.group(1)!r}, which is not a host name or IP address"
    if problem:
        raise InvalidInput(f"dagDeployment.repositoryUrl {_shown(url)} {problem}; use {GIT_URL_FORMS}")
    return url


def _check_ref(field: str, value: str) -> str:
    """git's ref-name rules (``git check-ref-format``), as far as a branch, tag or commit name needs them."""
    value = value.strip()
    problem: str | None = None
    if len(value) > 255:
        problem = f"is {len(value)} characters long; at most 255 are allowed"
    elif any(ch.isspace() or not ch.isprintable() or ch in "~^:?*[\\" for ch in value):
        problem = "contains whitespace, a control character or one of ~ ^ : ? * [ \\"
    elif value.startswith(("-", "/")) or value.endswith(("/", ".", ".lock")):
        problem = "starts with '-' or '/', or ends with '/', '.' or '.lock'"
    elif ".." in value or "@{" in value or "//" in value or value == "@":
        problem = "contains '..', '@{' or '//'"
    if problem:
        raise InvalidInput(
            f"dagDeployment.{field} {_shown(value)} {problem}; use a git branch, tag or commit name (e.g. main, "
            "v1.2, or a commit hash)"
        )
    return value


def _check_dag_directory(value: str) -> str:
    path = value.strip().strip("/")
    problem: str | None = None
    if len(path) > NFS_PATH_MAX:
        problem = f"is {len(path)} characters long; at most {NFS_PATH_MAX} are allowed"
    elif any(not ch.isprintable() or ch in "\n\r\t" for ch in path):
        problem = "contains control characters"
    elif ".." in path.split("/") or "." in path.split("/") or "//" in path:
        problem = "contains a '.' or '..' segment or an empty one"
    if problem:
        raise InvalidInput(
            f"dagDeployment.dagDirectoryLocation {_shown(value)} {problem}; use a directory inside the repository "
            "(e.g. dags, or empty for the repository's top)"
        )
    return path


def check_sync_interval(value: object) -> int:
    low, high = SYNC_INTERVAL_RANGE
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"dagDeployment.syncInterval must be a whole number of seconds from {low} to {high}")
    try:
        seconds = int(value)
    except ValueError:
        raise InvalidInput(
            f"dagDeployment.syncInterval {_shown(str(value))} is not a whole number of seconds; allowed: {low} to "
            f"{high}"
        ) from None
    if not low <= seconds <= high:
        raise InvalidInput(f"dagDeployment.syncInterval {seconds} is out of range; allowed: {low} to {high} seconds")
    return seconds


def check_ssh_key(key: str) -> str:
    """An SSH private key in OpenSSH or PEM form (what ``ssh -i`` reads); a public key is refused by name."""
    text = key.replace("\r\n", "\n").strip() + "\n"
    first = text.split("\n", 1)[0].strip()
    problem: str | None = None
    if len(text) > SSH_KEY_MAX:
        problem = f"is {len(text)} characters long; at most {SSH_KEY_MAX} are allowed"
    elif first.startswith(("ssh-", "ecdsa-", "sk-")) or "PUBLIC KEY" in first:
        problem = "is a public key; git-sync needs the private key (the file without .pub)"
    elif not (first.startswith("-----BEGIN ") and first.endswith("PRIVATE KEY-----")):
        problem = "is not an SSH private key (it must start with a line like -----BEGIN OPENSSH PRIVATE KEY-----)"
    elif not text.rstrip().endswith("PRIVATE KEY-----") or "-----END " not in text:
        problem = "is cut short: its -----END ... PRIVATE KEY----- line is missing"
    else:
        problem = _key_body_problem(first, text)
    if problem:
        raise InvalidInput(f"dagDeployment.sshKey {problem}")
    return text


def _key_body_problem(first: str, text: str) -> str | None:
    """A passphrase-protected key cannot be used unattended: PEM says so in a header, OpenSSH's format names its
    cipher (``none`` for an unprotected key) right after its magic string."""
    if "ENCRYPTED" in text:
        return "is protected by a passphrase; git-sync needs a key without one"
    if first != "-----BEGIN OPENSSH PRIVATE KEY-----":
        return None
    body = "".join(line.strip() for line in text.strip().split("\n")[1:-1])
    try:
        raw = base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error):
        return "is not an SSH private key (its body is not base64)"
    magic = b"openssh-key-v1\x00"
    if not raw.startswith(magic) or len(raw) < len(magic) + 4:
        return "is not an SSH private key (no openssh-key-v1 body)"
    size = int.from_bytes(raw[len(magic) : len(magic) + 4], "big")
    cipher = raw[len(magic) + 4 : len(magic) + 4 + size]
    if cipher != b"none":
        return "is protected by a passphrase; git-sync needs a key without one"
    return None


def check_known_hosts(text: str) -> str:
    """``known_hosts`` lines: ``host[,host...] key-type base64-key`` (``@cert-authority``/``@revoked`` markers,
    hashed host names and comments allowed)."""
    lines = text.replace("\r\n", "\n").strip().split("\n")
    if len(text) > KNOWN_HOSTS_MAX:
        raise InvalidInput(f"dagDeployment.knownHosts is {len(text)} characters long; at most {KNOWN_HOSTS_MAX}")
    kept = 0
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0].startswith("@"):
            fields = fields[1:]
        if len(fields) < 3 or not _KNOWN_HOST_TYPES.match(fields[1]) or not _BASE64.match(fields[2]):
            raise InvalidInput(
                f"dagDeployment.knownHosts line {number} is not a known_hosts entry; each line is "
                "'host[,host...] key-type base64-key' (e.g. the output of ssh-keyscan -t ed25519 <host>)"
            )
        kept += 1
    if kept == 0:
        raise InvalidInput(
            "dagDeployment.knownHosts has no host key line; give lines like the output of ssh-keyscan <host>, or "
            "leave it out"
        )
    return "\n".join(lines).strip() + "\n"


def parse_git_sync(given: Mapping[str, object], *, credentials: GitCredentials | None = None) -> GitSync:
    """Check git-sync settings (snake_case keys as the API hands them over); ``credentials`` are checked too, and
    decide ``ssh`` / ``known_hosts`` when given (else the stored flags in ``given`` stand)."""
    allowed = {"repository_url", "branch_name", "rev", "dag_directory_location", "sync_interval", "ssh"}
    unknown = sorted(set(given) - allowed - {"known_hosts", "sync_timeout", "ephemeral_storage"})
    if unknown:
        raise InvalidInput(f"dagDeployment.{unknown[0]} is not a git-sync setting")
    url = given.get("repository_url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"dagDeployment type git_sync needs a repositoryUrl ({GIT_URL_FORMS})")
    url = check_repository_url(url)
    branch = given.get("branch_name")
    rev = given.get("rev")
    directory = given.get("dag_directory_location")
    interval = given.get("sync_interval")
    ssh = bool(given.get("ssh"))
    known = given.get("known_hosts") is True
    if credentials is not None:
        if credentials.ssh_key is not None:
            ssh = bool(credentials.ssh_key)
            if credentials.ssh_key:
                check_ssh_key(credentials.ssh_key)
        if credentials.known_hosts is not None:
            known = bool(credentials.known_hosts)
            if credentials.known_hosts:
                check_known_hosts(credentials.known_hosts)
    if (ssh or known) and not is_ssh_url(url):
        field = "sshKey" if ssh else "knownHosts"
        raise InvalidInput(
            f"dagDeployment.{field} is only used with an SSH repositoryUrl (ssh://... or user@host:path); "
            f"{_shown(url)} is not one"
        )
    if known and not ssh:
        raise InvalidInput("dagDeployment.knownHosts needs an sshKey too (known hosts check the SSH server's key)")
    return GitSync(
        repository_url=url,
        branch_name=_check_ref("branchName", branch) if isinstance(branch, str) and branch.strip() else None,
        rev=_check_ref("rev", rev) if isinstance(rev, str) and rev.strip() else None,
        dag_directory_location=_check_dag_directory(directory) if isinstance(directory, str) else "",
        sync_interval=check_sync_interval(interval) if interval not in (None, "") else DEFAULT_SYNC_INTERVAL,
        ssh=ssh,
        known_hosts=known,
    )
