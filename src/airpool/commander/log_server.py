"""Commander's log endpoint: the servers ask here for Deployment logs, commander reads them from Kubernetes.

``GET /logs?deployment=<id>&component=<label>[&since=<ISO time>][&search=<text>][&limit=<n>][&follow=1]`` with
``Authorization: Bearer <secret>`` answers newline-delimited JSON, one object per log line (``services.logs``
documents the fields); with ``follow=1`` the answer streams until the client goes away, with an empty line every
``KEEPALIVE_SECONDS`` so a dead peer is noticed. ``GET /logs/pods?deployment=<id>&component=<label>`` answers
``{"pods": [...]}``: the component's pods and whether each has a log (``domain.logs.PodLog``), from which a server
says why there are no lines. Errors are JSON ``{"error": ...}``: 400 for a bad request, 401 without the secret, 404
for an unknown Deployment, 503 when Kubernetes refused or did not answer.

The endpoint decides nothing about users: the server has already checked the caller may read the Deployment; the
secret (random per process, recorded in the database with the URL by ``services.logs.register``) keeps anyone
else out, and commander serves only the pods of a live Deployment's components, never an arbitrary pod.

A plain threading HTTP server (one thread per request) fits: requests are few (people reading logs) and each
follow holds a thread per followed container anyway.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import os
import queue
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from lightkube import ApiError, Client

from airpool.commander import logs as kube_logs
from airpool.domain import logs as domain_logs
from airpool.domain.errors import AirpoolError, InvalidInput, NotFound
from airpool.domain.logs import LogLine, PodLog
from airpool.kube import podlogs
from airpool.services import logs as logs_service
from airpool.services.platform import Platform

log = logging.getLogger(__name__)

#: ``host:port`` to listen on; the default serves only this machine (``airpool serve`` with its own commander).
ADDRESS_ENV = "AIRPOOL_COMMANDER_LOGS_ADDRESS"
#: The URL servers use to reach it (default ``http://<listen address>``); the Helm chart gives the pod's IP.
URL_ENV = "AIRPOOL_COMMANDER_LOGS_URL"
DEFAULT_ADDRESS = "127.0.0.1:0"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 0
    url: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        address = env.get(ADDRESS_ENV, "").strip() or DEFAULT_ADDRESS
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise AirpoolError(f"{ADDRESS_ENV}={address!r} must be host:port, e.g. 0.0.0.0:8872 (port 0: any free)")
        return cls(host=host.strip("[]"), port=int(port), url=env.get(URL_ENV, "").strip() or None)


def _line_json(line: LogLine) -> bytes:
    return (logs_service.line_json(line) + "\n").encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: fits a stream of unknown length

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("log endpoint: " + format, *args)

    def _error(self, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._error(200, "ok")
            return
        if url.path not in ("/logs", "/logs/pods"):
            self._error(404, f"no such path {url.path!r}; commander serves /logs and /logs/pods")
            return
        given = self.headers.get(logs_service.SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.server.secret}".encode()):
            self._error(401, "missing or wrong secret")
            return
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            where, since, search, limit = self._request(params)
        except NotFound as exc:
            self._error(404, exc.message)
            return
        except AirpoolError as exc:
            self._error(400, exc.message)
            return
        try:
            if url.path == "/logs/pods":
                self._send_pods(kube_logs.pods(self.server.client, where))
            elif params.get("follow") == "1":
                self._follow(where, since=since, search=search)
            else:
                lines = kube_logs.read(self.server.client, where, since=since, search=search, limit=limit)
                self._send_lines(lines)
        except podlogs.LogUnavailable as exc:
            self._error(503, f"Kubernetes refused the log of a pod in namespace {where.namespace}: {exc.message}")
        except ApiError as exc:
            reason = exc.status.message
            self._error(503, f"Kubernetes refused to list the pods in namespace {where.namespace}: {reason}")
        except httpx2.TransportError as exc:
            self._error(503, f"the Kubernetes API server did not answer: {exc}")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server went away

    def _request(self, params: dict[str, str]) -> tuple[kube_logs.Where, datetime | None, str | None, int]:
        located = logs_service.locate(
            self.server.platform,
            deployment_id=params.get("deployment", ""),
            component=params.get("component", ""),
        )
        since = None
        if params.get("since"):
            try:
                since = datetime.fromisoformat(params["since"])
            except ValueError:
                raise InvalidInput(f"since {params['since']!r} is not an ISO time") from None
        try:
            limit = domain_logs.check_limit(int(params["limit"]) if params.get("limit") else None)
        except ValueError:
            raise InvalidInput(f"limit {params['limit']!r} is not a number") from None
        where = kube_logs.Where(
            namespace=located.namespace, deployment_id=located.deployment_id, component=located.component
        )
        return where, since, domain_logs.check_search(params.get("search")), limit

    def _start(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("cache-control", "no-store")
        self.end_headers()

    def _send_pods(self, pods: list[PodLog]) -> None:
        body = json.dumps({"pods": [dataclasses.asdict(p) for p in pods]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_lines(self, lines: list[LogLine]) -> None:
        self._start()
        self.wfile.write(b"".join(_line_json(line) for line in lines))

    def _follow(self, where: kube_logs.Where, *, since: datetime | None, search: str | None) -> None:
        kube_logs.targets(self.server.client, where)  # a refusal to list pods is an error answer, not an empty stream
        lines: queue.Queue[LogLine] = queue.Queue(maxsize=10_000)
        follower = kube_logs.Follower(self.server.client, where, since=since, search=search, emit=lines.put)
        runner = threading.Thread(target=follower.run, name="log-follow", daemon=True)
        self._start()
        self.wfile.flush()
        runner.start()
        try:
            while not self.server.stopping.is_set():
                try:
                    line = lines.get(timeout=logs_service.KEEPALIVE_SECONDS)
                except queue.Empty:
                    self.wfile.write(b"\n")
                else:
                    batch = [line]
                    while len(batch) < 500:
                        try:
                            batch.append(lines.get_nowait())
                        except queue.Empty:
                            break
                    self.wfile.write(b"".join(_line_json(item) for item in batch))
                self.wfile.flush()
        except OSError:
            pass  # the server closed the stream: the user stopped following
        finally:
            follower.stop()
            runner.join(timeout=10)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, platform: Platform, client: Client, secret: str) -> None:
        super().__init__(address, _Handler)
        self.platform = platform
        self.client = client
        self.secret = secret
        self.stopping = threading.Event()


class LogServer:
    """The endpoint in a thread, plus the thread that keeps its database row fresh."""

    def __init__(self, platform: Platform, client: Client, settings: Settings | None = None) -> None:
        settings = settings or Settings.from_env()
        self.platform = platform
        self.endpoint_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._secret = logs_service.new_secret()
        self._server = _Server((settings.host, settings.port), platform=platform, client=client, secret=self._secret)
        host, port = self._server.server_address[:2]
        self.url = settings.url or f"http://{_url_host(str(host))}:{port}"
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="commander-logs", daemon=True),
            threading.Thread(target=self._refresh, name="commander-logs-register", daemon=True),
        ]

    def start(self) -> LogServer:
        logs_service.register(self.platform, endpoint_id=self.endpoint_id, url=self.url, secret=self._secret)
        for thread in self._threads:
            thread.start()
        log.info("serving Deployment logs to the servers", extra={"kv": {"url": self.url}})
        return self

    def _refresh(self) -> None:
        while not self._stop.wait(logs_service.REFRESH_SECONDS):
            try:
                logs_service.register(self.platform, endpoint_id=self.endpoint_id, url=self.url, secret=self._secret)
            except Exception as exc:  # the database may be down for a while; the next refresh tries again
                log.warning("could not refresh the log endpoint's registration", extra={"kv": {"reason": str(exc)}})

    def stop(self) -> None:
        self._stop.set()
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        try:
            logs_service.unregister(self.platform, endpoint_id=self.endpoint_id)
        except Exception as exc:  # a dead database: the row goes stale and is not used
            log.warning("could not remove the log endpoint's registration", extra={"kv": {"reason": str(exc)}})


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return socket.gethostbyname(socket.gethostname())
    return f"[{host}]" if ":" in host else host
