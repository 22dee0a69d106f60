"""One server process of ``airpool serve --workers N``: the API and UI only, fed connections its parent accepted.

The parent (``cli.serve_supervisor``) holds the listening socket and hands each new connection to its server
processes in turn, over a Unix socket pair (``SCM_RIGHTS``, one connection per message). This process adopts each
one into uvicorn exactly as if it had accepted it itself: same protocol (``cli.serve_protocol.HTTPProtocol``), same
graceful shutdown (running requests finish, 30 s at most). Why not a shared listening socket: a process that wakes
first takes every connection waiting in the queue, and a kept-alive connection stays with it, so 16 connections
opened together were spread 13/3 or 16/0 over two processes; handed out in turn they are spread 8/8.

What passes over the pair:
- parent -> here: ``b"c"`` with one file descriptor, an accepted TCP connection; end of file when the parent is gone
  (then this process shuts down gracefully: nobody would hand it more work, and it must not outlive its parent);
- here -> parent: ``READY`` once the app's start-up is complete and connections are taken; ``STOPPING`` when this
  process begins to stop (a SIGTERM of its own, say): the parent hands it nothing more. A connection it sent before it
  heard is closed at once, never left unread in the pair for the 30 s of graceful shutdown.

Pool sync, the admin from the environment, the scheduled cleanup and the commander worker ran (or run) once, in the
parent: ``worker_app`` starts none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import time
from pathlib import Path
from typing import Any

import uvicorn

log = logging.getLogger("airpool.serve")

#: How the parent hands its options to the server processes it starts (environment variables).
ENV_VALUES = "AIRPOOL_SERVE_WORKER_VALUES"
ENV_DATABASE = "AIRPOOL_SERVE_WORKER_DATABASE_URL"
ENV_LOG_LEVEL = "AIRPOOL_SERVE_WORKER_LOG_LEVEL"
ENV_ACCESS_LOG = "AIRPOOL_SERVE_WORKER_ACCESS_LOG"
#: The file descriptor of this process's end of the socket pair.
ENV_CHANNEL = "AIRPOOL_SERVE_WORKER_CHANNEL_FD"
#: Sent once to the parent: connections may come.
READY = b"R"
#: Sent once to the parent: this process is stopping, hand it no more connections.
STOPPING = b"S"
#: How long running requests may take to finish at shutdown, in seconds (as one ``airpool serve`` process).
GRACEFUL_SECONDS = 30
#: Connections lost to the open-files limit are logged at most this often (seconds).
FD_WARNING_SECONDS = 10.0


def worker_app() -> Any:
    """The ASGI app of this process: the API and UI, without background tasks."""
    from airpool import config, logfmt
    from airpool.api.app import create_app
    from airpool.services import platform as platform_service

    logfmt.configure(level=os.environ.get(ENV_LOG_LEVEL, "info").upper())
    values = [Path(p) for p in os.environ.get(ENV_VALUES, "").split(os.pathsep) if p]
    loaded = config.load(values) if values else config.load_default()
    platform = platform_service.connect(loaded, url=os.environ[ENV_DATABASE], require_schema=True)
    return create_app(platform, background=())


class HandedServer(uvicorn.Server):
    """uvicorn's server without a listening socket of its own: it serves the connections that arrive on
    ``channel``."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel
        self._adopting: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._lost = 0  # connections lost to the open-files limit since last said
        self._lost_said = -FD_WARNING_SECONDS

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan start-up; no socket to listen on
        if self.should_exit:
            return
        self._channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self._channel.fileno(), self._receive)
        with contextlib.suppress(OSError):  # the parent died while this process started: the reader sees the end
            self._channel.send(READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The channel is still read while running requests finish: what arrives meanwhile is closed at once
        # (``_adopt``), not left waiting in the pair, unanswered, until this process ends.
        self._stopping = True
        with contextlib.suppress(OSError):  # the parent may be gone
            self._channel.send(STOPPING)
        await super().shutdown(sockets=sockets)

    def _receive(self) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._channel, 16, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the parent's end is broken: it is gone
                message, fds = b"", []
            if not message:  # end of file: the parent is gone
                log.warning("the parent of this server process is gone: shutting down")
                asyncio.get_running_loop().remove_reader(self._channel.fileno())
                self.should_exit = True
                return
            if not fds:  # the kernel could not give this process the connection: its open-files limit is reached
                self._too_many_files()
                continue
            self._adopt(socket.socket(fileno=fds[0]))

    def _too_many_files(self) -> None:
        """A connection lost because this process has as many files open as it may (the client sees it closed);
        said at most every ``FD_WARNING_SECONDS``, with how many since."""
        self._lost += 1
        now = time.monotonic()
        if now - self._lost_said >= FD_WARNING_SECONDS:
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            log.warning(
                "%d connection(s) closed unanswered: this server process has its %d open files already (its open "
                "connections count); raise the open-files limit (ulimit -n, systemd LimitNOFILE) or add processes",
                *(self._lost, limit),
            )
            self._lost, self._lost_said = 0, now

    def _adopt(self, connection: socket.socket) -> None:
        if self.should_exit or self._stopping:
            connection.close()  # handed over while this process began to stop: the client sees it closed
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.connect_accepted_socket(self._protocol, connection))
        self._adopting.add(task)
        task.add_done_callback(self._adopted)

    def _adopted(self, task: asyncio.Task[Any]) -> None:
        self._adopting.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("could not take a connection over: %s", error)

    def _protocol(self) -> asyncio.Protocol:
        # What uvicorn's own startup builds for each connection its listening socket accepts.
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol


def main() -> None:
    """Entry point of ``python -m airpool.cli.serve_worker`` (started by ``cli.serve_supervisor`` only)."""
    from airpool.cli.serve_protocol import HTTPProtocol

    channel = socket.socket(fileno=int(os.environ[ENV_CHANNEL]))
    config = uvicorn.Config(
        "airpool.cli.serve_worker:worker_app",
        factory=True,
        http=HTTPProtocol,
        log_level=os.environ.get(ENV_LOG_LEVEL, "info").lower(),
        log_config=None,  # worker_app configures logging, in logfmt like the parent
        access_log=os.environ.get(ENV_ACCESS_LOG) == "1",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        lifespan="on",
    )
    # Ctrl-C at the terminal reaches every process of the group; uvicorn raises it again once it has stopped.
    with contextlib.suppress(KeyboardInterrupt):
        HandedServer(config, channel).run()


if __name__ == "__main__":
    main()
