"""``airpool serve --workers N``: N server processes behind one listening socket that this process holds.

This process accepts every connection and hands it to the server processes in turn (``cli.serve_worker`` says how),
so connections are spread evenly however they arrive: uvicorn's own supervisor shares the listening socket, and
the process that woke first took every connection waiting (16 kept-alive connections opened together were spread
13/3 or 16/0 over two processes; measured in ``bench/api_create_deployment``). A connection costs this process one
``accept`` and one ``sendmsg``; requests never pass through it.

- **Start**: the socket is bound here first, so a port in use fails before any process starts. A server process
  that ends before it is ready (its app's start-up failed) stops the whole start, with its exit status; its own
  messages are above on the same terminal.
- **While serving** (from the moment all N are ready): connections go only to processes that said they are ready,
  in turn, and not to one that said it is stopping (a signal of its own); a process that ends is started again
  (at once if it had been serving a while, else after a pause that doubles up to 30 s), and its connections are
  lost to their clients as with any crash. With no process ready, connections wait in the kernel's queue.
- **Stop** (SIGTERM or Ctrl-C): stop accepting, pass SIGTERM on, let the processes finish their running requests
  (30 s, as one ``airpool serve``), then kill any process still there after 15 s more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from airpool.cli import exits, serve_worker

log = logging.getLogger("airpool.serve")

#: The kernel's queue of connections not accepted yet (uvicorn's default).
BACKLOG = 2048
#: Connections accepted in a row before looking at the processes again.
ACCEPT_BATCH = 64
#: After the system refused to accept (this process out of file descriptors, say), connections wait in the
#: kernel's queue this long before the next try (seconds), as asyncio's own servers do.
ACCEPT_PAUSE = 1.0
#: Such refusals are logged at most this often (seconds).
ACCEPT_WARNING_SECONDS = 10.0
#: A process that served this long before it ended is started again at once (seconds).
STEADY_SECONDS = 30.0
#: The longest pause before starting an ended process again (seconds).
MAX_PAUSE = 30.0
#: How long the processes may take to stop, beyond their 30 s of graceful shutdown, before they are killed.
STOP_MARGIN = 15.0


def listen(host: str, port: int) -> list[socket.socket]:
    """The listening sockets on ``host:port``, non-blocking: one per address ``host`` resolves to, as asyncio's
    ``create_server`` (so uvicorn in one process) binds them (``localhost``: 127.0.0.1 and ::1 where both resolve;
    an IPv6 socket is IPv6 only, ``::`` included).

    Raises ``exits.Failure`` naming the address and the system's reason (port in use, address not on this machine);
    nothing stays bound then."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    listeners: list[socket.socket] = []
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, _, _, _, address in dict.fromkeys((f, t, p, c, a) for f, t, p, c, a in found):
            listener = socket.socket(family, socket.SOCK_STREAM)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.bind(address)
            listener.listen(BACKLOG)
            listener.setblocking(False)
    except OSError as exc:
        for listener in listeners:
            listener.close()
        raise exits.fail(f"could not listen on {where}: {exc.strerror or exc}") from None
    return listeners


@dataclass
class _Process:
    """One server process, by its place (``slot``) among the N."""

    slot: int
    popen: subprocess.Popen[bytes]
    channel: socket.socket  # this process's end of the pair
    started: float
    ready: bool = False
    failures: int = 0  # ends in a row before being steady


@dataclass
class Supervisor:
    """N ``cli.serve_worker`` processes fed the connections ``listeners`` accept. ``env`` is their environment
    (the parent's options, ``serve_worker.ENV_*``)."""

    listeners: list[socket.socket]
    count: int
    env: Mapping[str, str]
    _processes: list[_Process | None] = field(default_factory=list)
    _restart_at: dict[int, tuple[float, int]] = field(default_factory=dict)  # slot -> (when, failures so far)
    _turn: int = 0
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    _accepting: bool = False
    _all_ready_once: bool = False
    _stop_signal: int | None = None
    _paused_until: float = 0.0  # accepting again from then (monotonic seconds) after the system refused
    _refusals: int = 0  # accepts the system refused since last said
    _refusals_said: float = -ACCEPT_WARNING_SECONDS

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; returns that signal's number once every process has ended.

        Raises ``exits.Failure`` when a process ends before it was first ready."""
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        self._selector.register(wake_read, selectors.EVENT_READ, "wake")
        try:
            self._processes = [self._spawn(slot) for slot in range(self.count)]
            while self._stop_signal is None:
                for key, _ in self._selector.select(timeout=1.0):
                    if key.data == "wake":
                        with contextlib.suppress(BlockingIOError):
                            wake_read.recv(64)
                    elif key.data == "listener":
                        self._accept(key.fileobj)  # type: ignore[arg-type]  # registered as a socket
                    else:
                        self._hear(key.data)
                if self._stop_signal is None:  # once stopping, a process that ended is no failure to report
                    self._reap()
                if self._paused_until and time.monotonic() >= self._paused_until:
                    self._paused_until = 0.0
                    self._listen(self._serving())
            return self._stop_signal
        finally:
            self._stop()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._selector.close()
            wake_read.close()
            wake_write.close()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum

    def _spawn(self, slot: int, failures: int = 0) -> _Process:
        here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**self.env, serve_worker.ENV_CHANNEL: str(there.fileno())}
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "airpool.cli.serve_worker"], env=env, pass_fds=[there.fileno()]
            )
        finally:
            there.close()
        here.setblocking(False)
        process = _Process(slot=slot, popen=popen, channel=here, started=time.monotonic(), failures=failures)
        self._selector.register(here, selectors.EVENT_READ, process)
        return process

    def _hear(self, process: _Process) -> None:
        """A message from a process (ready, stopping) or the end of its channel (it has ended)."""
        try:
            message = process.channel.recv(16)
        except BlockingIOError:
            return
        except OSError:
            message = b""
        if message == serve_worker.READY:
            process.ready = True
            log.info("server process %d (pid %d) is ready", process.slot + 1, process.popen.pid)
            self._all_ready_once |= all(p is not None and p.ready for p in self._processes)
            self._listen(self._serving())
        elif message == serve_worker.STOPPING:  # it got a signal of its own: its running requests finish
            if process.ready:
                log.info(
                    "server process %d (pid %d) is stopping: no more connections go to it",
                    *(process.slot + 1, process.popen.pid),
                )
            process.ready = False
            self._listen(self._serving())
        elif not message:
            self._selector.unregister(process.channel)
            process.ready = False
            self._listen(self._serving())

    def _serving(self) -> bool:
        """Whether to accept: at the start once all processes are ready (none gets the early crowd), then while
        any is."""
        ready = self._all_ready_once and any(p is not None and p.ready for p in self._processes)
        return ready and not self._paused_until

    def _listen(self, on: bool) -> None:
        """Accept only while some process is ready; until then connections wait in the kernel's queue."""
        if on and not self._accepting:
            for listener in self.listeners:
                self._selector.register(listener, selectors.EVENT_READ, "listener")
        elif not on and self._accepting:
            for listener in self.listeners:
                self._selector.unregister(listener)
        self._accepting = on

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: the connections stay queued; try again later
                self._pause_accepting(exc)
                return
            with connection:  # the process that takes it holds its own copy
                self._hand_over(connection)

    def _pause_accepting(self, exc: OSError) -> None:
        """Stop accepting for ``ACCEPT_PAUSE``: the listening socket stays readable while the system refuses, and
        trying again at once spun this process at full CPU with a warning per try (65,000 lines in 3 s)."""
        now = time.monotonic()
        self._paused_until = now + ACCEPT_PAUSE
        self._listen(False)
        self._refusals += 1
        if now - self._refusals_said >= ACCEPT_WARNING_SECONDS:
            log.warning(
                "could not accept connections (%d time(s) since last said): %s; they wait in the kernel's queue and "
                "are tried again every %.0f s (out of file descriptors: raise the open-files limit, ulimit -n or "
                "systemd LimitNOFILE)",
                *(self._refusals, exc.strerror or exc, ACCEPT_PAUSE),
            )
            self._refusals, self._refusals_said = 0, now

    def _hand_over(self, connection: socket.socket) -> None:
        """To the next ready process in turn; a process that cannot take it (ending, its channel full) is passed
        over. With none able to, the connection is closed."""
        for _ in range(self.count):
            process = self._processes[self._turn % self.count]
            self._turn += 1
            if process is None or not process.ready:
                continue
            try:
                socket.send_fds(process.channel, [b"c"], [connection.fileno()])
                return
            except OSError as exc:
                log.warning("server process %d could not take a connection: %s", process.slot + 1, exc)
        log.warning("no server process could take a connection: closed it")

    def _reap(self) -> None:
        """Start again the processes that ended (or fail the start, when one ended before it was ever ready)."""
        now = time.monotonic()
        for slot, process in enumerate(self._processes):
            if process is None or process.popen.poll() is None:
                continue
            code = process.popen.returncode
            if process.channel.fileno() != -1:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(process.channel)
                process.channel.close()
            self._processes[slot] = None
            self._listen(self._serving())
            if not self._all_ready_once:
                raise exits.fail(
                    f"server process {slot + 1} {_ended(code)} before it was ready; its messages are "
                    "above (a database it cannot reach, or a values file it cannot read, say)"
                )
            steady = now - process.started >= STEADY_SECONDS
            failures = 0 if steady else process.failures + 1
            pause = 0.0 if steady else min(MAX_PAUSE, 2.0 ** (failures - 1))
            log.warning(
                "server process %d (pid %d) %s; starting another in %.0f s",
                *(slot + 1, process.popen.pid, _ended(code), pause),
            )
            self._restart_at[slot] = (now + pause, failures)
        for slot, (when, failures) in list(self._restart_at.items()):
            if when <= now:
                del self._restart_at[slot]
                self._processes[slot] = self._spawn(slot, failures)

    def _stop(self) -> None:
        """Stop accepting, pass SIGTERM on, wait for the processes (graceful shutdown plus a margin), kill any left."""
        self._listen(False)
        for listener in self.listeners:
            listener.close()
        living = [p for p in self._processes if p is not None]
        for process in living:
            with contextlib.suppress(ProcessLookupError):
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + serve_worker.GRACEFUL_SECONDS + STOP_MARGIN
        for process in living:
            try:
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("server process %d (pid %d) did not stop: killed it", process.slot + 1, process.popen.pid)
                process.popen.kill()
                process.popen.wait()
            process.channel.close()


def _ended(code: int) -> str:
    """How a process ended, from its ``returncode`` (negative: the signal that killed it)."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"ended with status {code}"


def serve(
    *,
    listeners: list[socket.socket],
    count: int,
    values: list[str],
    database_url: str,
    log_level: str,
    access_log: bool,
) -> int:
    """Run ``count`` server processes on ``listeners`` until SIGTERM or Ctrl-C; returns the signal's number."""
    env = {
        **os.environ,
        serve_worker.ENV_VALUES: os.pathsep.join(values),
        serve_worker.ENV_DATABASE: database_url,
        serve_worker.ENV_LOG_LEVEL: log_level,
        serve_worker.ENV_ACCESS_LOG: "1" if access_log else "0",
    }
    return Supervisor(listeners=listeners, count=count, env=env).run()
