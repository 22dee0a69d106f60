"""Everything the real node changes on the host, and how each change is undone.

``prepare`` (under the machine lock) records the sysctls the node's parts will change, creates the bridge and the
egress guard; ``clean`` undoes all of it, and whatever a crashed earlier node left: processes in pod cgroups,
containerd shims, mounts under the node's directories, the pod cgroups, kubelet's and kube-proxy's iptables
chains (IPv4 and IPv6), the bridge, the CNI and runtime state, the sysctls (restored to the recorded values), and
the egress guard, removed last so that nothing of the pod or Service range could leave meanwhile.

The lock is an ``flock`` on ``paths.LOCK_FILE`` whose descriptor the node's long-running processes inherit: it is
held exactly as long as any of them lives, even when ``dev up`` has exited or a process was killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from airpool.devcluster import errors
from airpool.devcluster.realnode import network, paths

# Every sysctl that containerd, the CNI bridge plugin, kubelet (protectKernelDefaults: false) or kube-proxy may set.
SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
    "net.netfilter.nf_conntrack_tcp_be_liberal",
)
# Fixed paths the kubelet, containerd or the CNI plugins create when missing (most are moved into our own
# directories by configuration; these are the safety net). Those absent at ``up`` are removed at ``down`` when
# nothing but empty directories is left in them.
WATCHED_DIRS = (
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/var/lib/containerd",
    "/etc/cni",
    "/opt/cni",
    "/opt/containerd",
    "/run/containerd",
    "/var/run/netns",
    "/etc/kubernetes",
    "/usr/libexec/kubernetes",
)
# Chains kubelet creates (and kube-proxy --cleanup leaves) plus kube-proxy's own: everything named KUBE-*.
CHAIN_PREFIXES = ("KUBE-",)
TABLES = ("filter", "nat", "mangle", "raw")
CGROUP_ROOT = Path("/sys/fs/cgroup")
POD_CGROUP = "kubepods"
_LIBC = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


def _run(argv: list[str], *, check: bool = False, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise errors.DevClusterError(
            f"`{argv[0]}` is not installed; scripts/setup.sh installs what the real node needs."
        ) from exc
    if check and result.returncode != 0:
        raise errors.DevClusterError(
            f"`{' '.join(argv)}` failed (exit {result.returncode}): {(result.stderr or result.stdout).strip()}"
        )
    return result


# --- the lock -------------------------------------------------------------------------------------------------------


def try_lock() -> int | None:
    """The descriptor of the held machine lock, or None when a running node holds it."""
    paths.RUN_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def try_lock_free() -> bool:
    """Whether no process holds the machine lock now (no real node's kubelet runs)."""
    fd = try_lock()
    if fd is None:
        return False
    os.close(fd)
    return True


def wait_lock(timeout: float) -> int | None:
    """Wait up to ``timeout`` seconds for the lock (processes that hold it are stopping)."""
    deadline = time.monotonic() + timeout
    while True:
        fd = try_lock()
        if fd is not None or time.monotonic() > deadline:
            return fd
        time.sleep(0.1)


def owner() -> dict[str, object]:
    """What the node that last took the lock recorded: its data directory, start time, the sysctls before it."""
    try:
        data = json.loads(paths.OWNER_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def owner_dir() -> Path | None:
    value = owner().get("data_dir")
    return Path(str(value)) if value else None


def absent_dirs() -> list[str]:
    return [directory for directory in WATCHED_DIRS if not os.path.lexists(directory)]


def remove_if_empty(directory: Path) -> None:
    """Remove ``directory`` when it holds nothing but (nested) empty directories."""
    if not directory.is_dir() or directory.is_symlink():
        return
    for root, _, _ in sorted(os.walk(directory), key=lambda entry: len(entry[0]), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(root)


def write_owner(data_dir: Path, *, sysctls: dict[str, str]) -> None:
    paths.OWNER_FILE.write_text(
        json.dumps(
            {
                "data_dir": str(data_dir),
                "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "pid": os.getpid(),
                "sysctls": sysctls,
                "absent_dirs": absent_dirs(),
            },
            indent=2,
        )
    )


# --- sysctls --------------------------------------------------------------------------------------------------------


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def restore_sysctls(saved: dict[str, str]) -> list[str]:
    """Write back every recorded value that differs now; return the names that could not be restored."""
    failed = []
    for name, value in saved.items():
        path = _sysctl_path(name)
        try:
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
        except OSError:
            failed.append(name)
    return failed


# --- bridge and guard -----------------------------------------------------------------------------------------------


def bridge_exists() -> bool:
    return Path("/sys/class/net", network.BRIDGE).exists()


def create_bridge() -> None:
    """The bridge and its gateway address, before the API server (which listens there) and the kubelet start."""
    if not bridge_exists():
        _run(["ip", "link", "add", network.BRIDGE, "type", "bridge"], check=True)
    address = f"{network.NODE_IP}/{network.POD_PREFIX}"
    shown = _run(["ip", "-4", "-o", "addr", "show", "dev", network.BRIDGE], check=True).stdout
    if f" {address} " not in shown:
        _run(["ip", "addr", "add", address, "dev", network.BRIDGE], check=True)
    _run(["ip", "link", "set", network.BRIDGE, "up"], check=True)


def delete_bridge() -> None:
    if not bridge_exists():
        return
    # veths of pods whose network namespaces were not torn down still hang on the bridge
    ports = Path("/sys/class/net", network.BRIDGE, "brif")
    for port in sorted(ports.iterdir()) if ports.is_dir() else []:
        _run(["ip", "link", "del", port.name])
    _run(["ip", "link", "del", network.BRIDGE], check=True)


def _guard_rules() -> list[list[str]]:
    """Traffic staying on the bridge or loopback passes; anything else from or to the pod or Service range (that
    is: leaving through the uplink, whatever it is called) is dropped."""
    rules = [["-o", network.BRIDGE, "-j", "RETURN"], ["-o", "lo", "-j", "RETURN"]]
    for cidr in (network.POD_CIDR, network.SERVICE_CIDR):
        for direction in ("-s", "-d"):
            rules.append([direction, cidr, "-j", "DROP"])
    return rules


def guard_present() -> bool:
    return _run(["iptables", "-w", "-t", "mangle", "-S", network.GUARD_CHAIN]).returncode == 0


def add_guard() -> None:
    chain = network.GUARD_CHAIN
    if not guard_present():
        _run(["iptables", "-w", "-t", "mangle", "-N", chain], check=True)
    _run(["iptables", "-w", "-t", "mangle", "-F", chain], check=True)
    for rule in _guard_rules():
        _run(["iptables", "-w", "-t", "mangle", "-A", chain, *rule], check=True)
    jump = ["POSTROUTING", "-j", chain]
    if _run(["iptables", "-w", "-t", "mangle", "-C", *jump]).returncode != 0:
        _run(["iptables", "-w", "-t", "mangle", "-I", *jump], check=True)


def remove_guard() -> None:
    chain = network.GUARD_CHAIN
    while _run(["iptables", "-w", "-t", "mangle", "-D", "POSTROUTING", "-j", chain]).returncode == 0:
        pass
    if guard_present():
        _run(["iptables", "-w", "-t", "mangle", "-F", chain], check=True)
        _run(["iptables", "-w", "-t", "mangle", "-X", chain], check=True)


# --- iptables chains of kubelet and kube-proxy ----------------------------------------------------------------------


def kube_chains() -> dict[str, list[str]]:
    """``{"iptables filter": ["KUBE-FIREWALL", ...], "ip6tables nat": [...]}``: every KUBE-* chain there is."""
    found: dict[str, list[str]] = {}
    for tool in ("iptables", "ip6tables"):
        for table in TABLES:
            listing = _run([tool, "-w", "-t", table, "-S"])
            chains = [
                line.split()[1]
                for line in listing.stdout.splitlines()
                if line.startswith("-N ") and line.split()[1].startswith(CHAIN_PREFIXES)
            ]
            if chains:
                found[f"{tool} {table}"] = chains
    return found


def remove_kube_chains() -> None:
    """Delete every rule that jumps to a KUBE-* chain, then flush and delete those chains (v4 and v6)."""
    for key, chains in kube_chains().items():
        tool, table = key.split()
        listing = _run([tool, "-w", "-t", table, "-S"]).stdout.splitlines()
        for line in listing:
            parts = line.split()
            if parts[:1] == ["-A"] and parts[1] not in chains and any(c in parts for c in chains):
                _run([tool, "-w", "-t", table, "-D", *parts[1:]])
        for chain in chains:
            _run([tool, "-w", "-t", table, "-F", chain])
        for chain in chains:
            _run([tool, "-w", "-t", table, "-X", chain])


# --- processes, mounts, cgroups -------------------------------------------------------------------------------------


def _cgroup_dirs() -> list[Path]:
    """Every ``kubepods`` cgroup directory, in every v1 hierarchy and the unified one."""
    if not CGROUP_ROOT.is_dir():
        return []
    found = []
    for hierarchy in sorted(CGROUP_ROOT.iterdir()):
        candidate = hierarchy / POD_CGROUP
        if candidate.is_dir() and not hierarchy.is_symlink():
            found.append(candidate)
    if (CGROUP_ROOT / POD_CGROUP / "cgroup.procs").exists():
        found.append(CGROUP_ROOT / POD_CGROUP)  # a pure cgroup v2 machine
    return found


def pod_cgroups() -> list[Path]:
    return _cgroup_dirs()


def _cgroup_tree(top: Path) -> list[Path]:
    """Every directory under ``top`` (itself included). Cgroups come and go while containers stop, so this walks
    with ``os.walk``, which skips a directory that vanished under it, where ``Path.rglob`` raises."""
    return [Path(directory) for directory, _subdirs, _files in os.walk(top)]


def _pids_in(directory: Path) -> set[int]:
    pids: set[int] = set()
    for cgroup in _cgroup_tree(directory):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in (cgroup / "cgroup.procs").read_text().split())
    return pids


def kill_pod_processes(timeout: float = 30.0) -> None:
    """SIGKILL every process in a pod cgroup until none is left (containers outlive a stopped kubelet)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = set().union(*(_pids_in(directory) for directory in _cgroup_dirs())) if _cgroup_dirs() else set()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise errors.DevClusterError(
                f"Processes {sorted(pids)[:10]} in the pod cgroups did not die within {timeout:.0f} s."
            )
        time.sleep(0.1)


def remove_pod_cgroups() -> None:
    """rmdir each pod cgroup, deepest first (a cgroup directory can only be removed empty)."""
    for top in _cgroup_dirs():
        for directory in sorted(_cgroup_tree(top), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()


def shim_pids() -> list[int]:
    """containerd shims serving our containerd (their command line names its socket)."""
    marker = str(paths.CONTAINERD_SOCKET).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if b"containerd-shim" in cmdline.split(b"\0", 1)[0] and marker in cmdline:
                found.append(int(entry.name))
    return found


def _shim_sockets(pids: list[int]) -> list[Path]:
    """The socket files under ``paths.SHIM_SOCKETS`` that the shims ``pids`` hold (a killed shim leaves its file)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[len("socket:[") : -1])
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[6] in inodes and fields[7].startswith(str(paths.SHIM_SOCKETS) + "/"):
                found.append(Path(fields[7]))
    return found


def kill_shims(timeout: float = 10.0) -> None:
    """SIGKILL the shims that serve our containerd (left when it stopped without deleting its tasks)."""
    for socket_file in _shim_sockets(shim_pids()):
        socket_file.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while pids := shim_pids():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise errors.DevClusterError(f"containerd shims {pids} did not exit.")
        time.sleep(0.05)


def mounts_under(roots: Iterable[Path]) -> list[str]:
    """Mount points at or below any of ``roots``, deepest first."""
    prefixes = [str(root.resolve()) for root in roots]
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if any(point == prefix or point.startswith(prefix + "/") for prefix in prefixes):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(roots: Iterable[Path]) -> None:
    roots = list(roots)
    for _ in range(5):  # a mount can hide another one at the same point
        points = mounts_under(roots)
        if not points:
            return
        for point in points:
            if _LIBC.umount2(point.encode(), 0) != 0:
                _LIBC.umount2(point.encode(), _MNT_DETACH)
    left = mounts_under(roots)
    if left:
        raise errors.DevClusterError(f"Could not unmount {', '.join(left[:5])}.")


def remove_tree(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def flush_conntrack() -> None:
    """Forget connection-tracking entries of the pod and Service ranges (best effort)."""
    for cidr in (network.POD_CIDR, network.SERVICE_CIDR):
        for direction in ("-s", "-d"):
            _run(["conntrack", "-D", direction, cidr])


def container_log_links(pod_logs: Path) -> list[Path]:
    """kubelet's symlinks in /var/log/containers (a fixed path) that point into this node's pod log directory."""
    directory = Path("/var/log/containers")
    if not directory.is_dir():
        return []
    found = []
    for link in directory.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(str(pod_logs)):
                found.append(link)
    return found
