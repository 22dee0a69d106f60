"""Detached control-plane processes: start them, find them again from their PID files, wait for health, stop them.

Each process gets its own session (it outlives the ``airpool dev up`` that started it and ignores that terminal's
Ctrl-C) and a PID file written right after it starts, so ``stop`` can always find whatever was started, even after
a failed start. A PID file also records the binary, so a PID the kernel has since reused for another program is
never signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from airpool.devcluster import errors

LOG_TAIL_LINES = 15


@dataclasses.dataclass(frozen=True, kw_only=True)
class Spec:
    """How to run one component and how to tell it is healthy."""

    name: str
    argv: list[str]
    health_url: str
    pass_fds: tuple[int, ...] = ()  # descriptors the process inherits (the real node's kubelet: the machine lock)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Layout:
    """Where PID files and logs go inside the data directory."""

    run_dir: Path
    log_dir: Path

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Lowest port ``free_port`` picks: above the fixed ports of common services (Kubernetes' own are 10248-10260).
LISTEN_PORT_FLOOR = 20000


def listen_ports(ephemeral_low: int) -> range:
    """Where ``free_port`` picks: below the kernel's ephemeral range. A port from that range (what ``bind(0)``
    gives) can be taken as the local port of any outgoing connection between the pick and the server's start, and
    the server then fails with "address already in use" (a real node's kube-proxy did, under load)."""
    return range(LISTEN_PORT_FLOOR, max(LISTEN_PORT_FLOOR, ephemeral_low))


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(candidates: range | None = None) -> int:
    """A port on 127.0.0.1 free now, picked at random from ``candidates`` (default: ``listen_ports``); the kernel's
    choice when none of them is free or the machine leaves no room below its ephemeral range."""
    if candidates is None:
        candidates = listen_ports(_ephemeral_low())
    if candidates:
        for port in random.sample(candidates, min(len(candidates), 200)):
            if port_is_free(port):
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now: like the Go servers, ignore connections in TIME_WAIT."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec; the setting survives exec. The kernel sends SIGTERM when the
    # thread that forked it ends, which is why only long-lived callers (a pytest session) should ask for this.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(spec: Spec, *, layout: Layout, die_with_caller: bool = False) -> subprocess.Popen[bytes]:
    """Start ``spec`` detached, its output in its log file (truncated: the tail is about this run).

    ``die_with_caller``: the process also gets SIGTERM when the calling process dies, even by SIGKILL, so a
    killed test session leaves no control plane behind.
    """
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    with layout.log_file(spec.name).open("wb") as log:
        process = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_caller else None,
            pass_fds=spec.pass_fds,
        )
    layout.pid_file(spec.name).write_text(f"{process.pid}\n{spec.argv[0]}\n")
    return process


def recorded_pid(name: str, *, layout: Layout) -> int | None:
    """The PID of the running process ``name`` started by us, or None (no PID file, exited, PID reused)."""
    try:
        pid_text, binary = layout.pid_file(name).read_text().split("\n")[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if not alive(pid):
        return None
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return None
    return pid if argv0 == binary else None


def alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it if it is our own exited child, so a zombie does not count."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def log_tail(name: str, *, layout: Layout, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = layout.log_file(name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def _exit_reason(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"


def wait_healthy(
    started: Sequence[tuple[Spec, subprocess.Popen[bytes]]],
    *,
    layout: Layout,
    deadline: float,
    probe: Callable[[str], bool],
) -> None:
    """Poll every component until all are healthy; fail at once when one exits, or at the deadline."""
    pending = list(started)
    while pending:
        for spec, process in list(pending):
            if (code := process.poll()) is not None:
                raise errors.DevClusterError(
                    f"{spec.name} {_exit_reason(code)} during start-up. Its last log lines "
                    f"({layout.log_file(spec.name)}):\n{log_tail(spec.name, layout=layout)}"
                )
            if probe(spec.health_url):
                pending.remove((spec, process))
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(spec.name for spec, _ in pending)
            details = "\n".join(
                f"--- {spec.name} ({layout.log_file(spec.name)}):\n{log_tail(spec.name, layout=layout)}"
                for spec, _ in pending
            )
            raise errors.DevClusterError(f"{names} did not become healthy in time. Last log lines:\n{details}")
        time.sleep(0.05)


def terminate(names: Sequence[str], *, layout: Layout) -> None:
    """SIGTERM the recorded processes without waiting (``stop_all`` later waits for them)."""
    for name in names:
        if (pid := recorded_pid(name, layout=layout)) is not None:
            _signal(pid, signal.SIGTERM)


def stop_all(names: Sequence[str], *, layout: Layout, grace: float = 5.0) -> None:
    """SIGTERM every recorded process, SIGKILL what is left after ``grace`` seconds, then forget them."""
    running = {name: pid for name in names if (pid := recorded_pid(name, layout=layout)) is not None}
    for pid in running.values():
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in running.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in running.values():
        if alive(pid):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in running.values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    for name in names:
        layout.pid_file(name).unlink(missing_ok=True)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)  # each component leads its own session and process group
