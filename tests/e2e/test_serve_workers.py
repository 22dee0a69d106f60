"""``airpool serve --workers N`` as a person and a process manager meet it: connections spread evenly over the
server processes however they arrive, a process that dies is replaced, a port in use is refused before anything
starts, and SIGTERM, Ctrl-C or the parent's death stop every process. Real processes, real sockets, SQLite."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.typing import Subprotocol

from airpool.services import schema
from tests.support import cli
from tests.support.aio import run
from tests.support.api_server import PASSWORD, GraphQL, Served, airpool_executable, free_port, serve_process
from tests.support.sockets import connections_per_process

pytestmark = pytest.mark.slow

CONNECTIONS = 16


def _wait(what: str, check: Callable[[], Any], *, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
    return found


def _ready_pids(served: Served | Path) -> list[int]:
    """The server processes that said they are ready, in ``serve``'s output (a ``Served`` or the file it writes)."""
    output = served.read_text() if isinstance(served, Path) else served.output()
    return [int(pid) for pid in re.findall(r"server process \d+ \(pid (\d+)\) is ready", output)]


def _children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(
    tmp_path: Path,
    values: Path,
    database: str,
    *options: str,
    port: int | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    """``airpool serve --workers 2`` (no commander) started by the test itself, and the file it writes to."""
    log = tmp_path / "serve.log"
    port = free_port() if port is None else port
    args = ["serve", "-f", str(values), "--port", str(port), "--no-commander", "--workers", "2", *options]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [airpool_executable(), *args],
            env={**os.environ, "AIRPOOL_DATABASE_URL": database},
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    return proc, log


@pytest.fixture
def values(tmp_path: Path) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(
        "global:\n  features:\n    namespacePools:\n      enabled: true\n      namespaces:\n"
        "        create: true\n        names: [pool-a, pool-b]\n"
    )
    return path


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    schema.upgrade(url)
    return url


@pytest.fixture
def two(values: Path, database: str) -> Iterator[Served]:
    admin = {"AIRPOOL_ADMIN_USERNAME": "admin", "AIRPOOL_ADMIN_PASSWORD": PASSWORD}
    with serve_process(values=values, database_url=database, env=admin, extra_args=("--workers", "2")) as served:
        _wait("both server processes", lambda: len(_ready_pids(served)) == 2)
        yield served


def _spread(base: str) -> dict[int, int]:
    """Open CONNECTIONS connections at once, get one answer on each, and say which process holds how many."""
    port = int(base.rsplit(":", 1)[1])

    async def hold() -> dict[int, int]:
        opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(CONNECTIONS)))
        try:
            for _, writer in opened:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: airpool\r\n\r\n")
            for reader, _ in opened:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                assert head.startswith(b"HTTP/1.1 200"), head
            return connections_per_process(port)
        finally:
            for _, writer in opened:
                writer.close()

    return run(hold())


def test_connections_opened_together_are_spread_evenly_over_the_processes(two: Served) -> None:
    """uvicorn's shared socket gave 13/3 or 16/0 here: the process that woke first took every waiting connection."""
    pids = set(_ready_pids(two))
    for _ in range(3):
        spread = _spread(two.base)
        assert set(spread) == pids, (spread, pids)
        assert sorted(spread.values()) == [CONNECTIONS // 2] * 2, spread


def test_a_server_process_that_dies_is_replaced_and_requests_go_on(two: Served) -> None:
    victim = _ready_pids(two)[0]
    os.kill(victim, signal.SIGKILL)
    _wait("a replacement", lambda: len(_ready_pids(two)) == 3)
    assert re.search(rf"server process \d \(pid {victim}\) was killed by SIGKILL; starting another", two.output())
    replacement = _ready_pids(two)[2]
    assert _children(two.proc.pid) == {replacement, *(set(_ready_pids(two)[:2]) - {victim})}
    spread = _spread(two.base)
    assert victim not in spread
    assert sorted(spread.values()) == [CONNECTIONS // 2] * 2, spread
    assert GraphQL(two.base).login("admin").data("{ self { username } }")["self"]["username"] == "admin"


def test_sigterm_lets_a_running_request_finish_then_stops_every_process(two: Served) -> None:
    children = _children(two.proc.pid)
    assert len(children) == 2
    body = b'{"query": "{ appConfig { version } }"}'
    with socket.create_connection(("127.0.0.1", int(two.base.rsplit(":", 1)[1])), timeout=60) as conn:
        conn.sendall(
            b"POST /v1 HTTP/1.1\r\nHost: airpool\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        # uvicorn answers 100 Continue when the app asks for the body: the request is running in a server process.
        assert conn.recv(1024).startswith(b"HTTP/1.1 100 Continue"), "the request did not start"
        two.proc.send_signal(signal.SIGTERM)
        _wait("the parent to stop accepting", lambda: _refused(two.base))
        conn.sendall(body)
        answer = b""
        while b"appConfig" not in answer and (chunk := conn.recv(65536)):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert answer.endswith(b'{"data":{"appConfig":{"version":"0.37.0"}}}'), answer
        # Then the server process closes the connection as it stops (at once, or once the answer is out).
        assert conn.recv(65536) == b""
    assert two.proc.wait(timeout=90) == -signal.SIGTERM  # as one `airpool serve` after SIGTERM
    _wait("the server processes to end", lambda: not any(_alive(pid) for pid in children), timeout=30)
    assert "Traceback" not in two.output()


def test_a_server_process_stopping_on_a_signal_of_its_own_gets_no_more_connections(two: Served) -> None:
    """SIGTERM to one server process (an operator's kill, a process manager): while its running request finishes
    (graceful shutdown, up to 30 s), every new connection goes to the other. Every second one was handed to it and
    left unread in its channel: the client waited until the process ended, then saw the connection reset."""
    port = int(two.base.rsplit(":", 1)[1])
    held = []
    for _ in range(2):  # handed out in turn: a running request in each process
        conn = socket.create_connection(("127.0.0.1", port), timeout=60)
        conn.sendall(
            b"POST /v1 HTTP/1.1\r\nHost: airpool\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"
        )
        held.append(conn)
    try:
        assert sorted(connections_per_process(port).values()) == [1, 1]
        victim = _ready_pids(two)[0]
        os.kill(victim, signal.SIGTERM)
        _wait("the process to wait for its running request", lambda: "Waiting for connections to close" in two.output())
        _wait(
            "the parent to hear it",
            lambda: re.search(rf"\(pid {victim}\) is stopping: no more connections", two.output()),
        )
        for _ in range(6):
            assert httpx.get(f"{two.base}/healthz", timeout=20).status_code == 200
        assert _alive(victim), "the stopping process ended early: nothing was checked"
    finally:
        for conn in held:
            conn.close()
    _wait("a replacement", lambda: len(_ready_pids(two)) == 3)


def _refused(base: str) -> bool:
    try:
        socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_server_processes_stop_when_their_parent_is_killed(two: Served) -> None:
    children = _children(two.proc.pid)
    two.proc.kill()  # nothing can pass a signal on now: each process sees its channel close
    two.proc.wait()
    _wait("the orphaned server processes to end", lambda: not any(_alive(pid) for pid in children), timeout=90)
    assert "the parent of this server process is gone: shutting down" in two.output()


def test_server_processes_whose_parent_is_killed_while_they_start_stop_quietly(
    values: Path, database: str, tmp_path: Path
) -> None:
    """The parent killed before its server processes were ready: each stops as one whose parent died later does.
    Each printed a BrokenPipeError traceback instead (its ready message had nowhere to go)."""
    proc, log = _start(tmp_path, values, database)
    children = _wait("the server processes to be started", lambda: len(c := _children(proc.pid)) == 2 and c)
    proc.kill()
    proc.wait()
    _wait("the orphaned server processes to end", lambda: not any(_alive(pid) for pid in children), timeout=90)
    output = log.read_text()
    assert "is ready" not in output, "the parent saw a server process ready: it was killed too late to check this"
    assert output.count("the parent of this server process is gone: shutting down") == 2, output
    assert "Traceback" not in output, output


def test_a_server_process_at_its_open_files_limit_keeps_serving(values: Path, database: str, tmp_path: Path) -> None:
    """More connections than a server process may hold files (here a limit of 128): the kernel drops the connection
    in the handing-over message, and the process closes nothing else. It took the message for its parent's end,
    said `the parent of this server process is gone` and stopped, and the other did the same: every open connection
    was lost."""
    import resource

    def low_limit() -> None:  # the hard limit too: serve raises its soft limit to the hard one at start
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    port = free_port()
    proc, log = _start(tmp_path, values, database, port=port, preexec_fn=low_limit)
    held: list[socket.socket] = []
    try:
        _wait("both server processes", lambda: len(_ready_pids(log)) == 2)
        children = _children(proc.pid)
        for _ in range(300):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=60))
        said = ("closed unanswered: this server process has its 128 open files", "the parent of this server process")
        _wait("the limit to be reached", lambda: any(line in log.read_text() for line in said))
        assert "the parent of this server process is gone" not in log.read_text(), log.read_text()
        for conn in held:
            conn.close()
        held.clear()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        output = log.read_text()
        assert "the parent of this server process is gone" not in output, output
        assert _children(proc.pid) == children, output
    finally:
        for conn in held:
            conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)


def test_a_parent_out_of_file_descriptors_waits_and_accepts_again(two: Served) -> None:
    """The parent at its open-files limit (commander's pool watches hold one connection each in it): the system
    refuses to accept, the connection waits in the kernel's queue and is served once a descriptor is free. The parent
    tried again at once, forever: full CPU and a warning per try (65,000 lines in 3 s)."""
    import resource

    parent = two.proc.pid
    limit = resource.prlimit(parent, resource.RLIMIT_NOFILE)
    resource.prlimit(parent, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{parent}/fd")), limit[1]))
    try:
        conn = socket.create_connection(("127.0.0.1", int(two.base.rsplit(":", 1)[1])), timeout=60)
        _wait("the parent to be refused", lambda: "could not accept" in two.output())
        first = two.output().count("could not accept")
        deadline = time.monotonic() + 2  # an interval to count the warnings in: one per try before
        while time.monotonic() < deadline:
            time.sleep(0.1)
        assert two.output().count("could not accept") - first <= 1, two.output()[-2000:]
    finally:
        resource.prlimit(parent, resource.RLIMIT_NOFILE, limit)
    with conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: airpool\r\n\r\n")
        assert conn.recv(1024).startswith(b"HTTP/1.1 200"), "the waiting connection was not served"
    assert httpx.get(f"{two.base}/healthz", timeout=30).status_code == 200


def test_a_port_in_use_is_refused_before_any_process_starts(values: Path, database: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [airpool_executable(), "serve", "-f", str(values), "--port", str(port), "--no-commander", "-w", "2"],
            env={**os.environ, "AIRPOOL_DATABASE_URL": database},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done
    assert f"could not listen on 127.0.0.1:{port}: Address already in use" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "server process" not in done.stderr + done.stdout  # none was started


def test_an_ipv6_address_is_served_and_shown_as_a_url_in_brackets(values: Path, database: str, tmp_path: Path) -> None:
    """``--host ::1``: the banner's URLs (and the astro line a user copies) are ``http://[::1]:port``; they were
    ``http://::1:port``, which no client can parse. A port in use names the address the same way."""
    port = free_port()
    proc, log = _start(tmp_path, values, database, "--host", "::1", port=port)
    try:
        _wait("both server processes", lambda: len(_ready_pids(log)) == 2)
        output = log.read_text()
        assert f"airpool is serving at http://[::1]:{port}\n" in output, output
        assert f"astro config set -g local.houston http://[::1]:{port}/v1" in output, output
        assert httpx.get(f"http://[::1]:{port}/healthz", timeout=30).status_code == 200
        again = subprocess.run(
            proc.args,  # the same serve, on the same port
            env={**os.environ, "AIRPOOL_DATABASE_URL": database},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 1, again
        assert f"could not listen on [::1]:{port}: Address already in use" in again.stderr, again.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)


def test_sigterm_while_the_server_processes_start_is_a_clean_stop(values: Path, database: str, tmp_path: Path) -> None:
    """A process manager's SIGTERM to the whole group while the server processes are still starting (systemd stops a
    unit's every process at once): one of them ends before it was ready, and that is part of the stop. It was
    reported as a failed start (exit 1: `server process 1 was killed by SIGTERM before it was ready; ... a database
    it cannot reach`) whenever the parent saw that end in the same moment as its own SIGTERM; the parent is paused
    here so that it always does, and the process is killed outright so that it ends before it is ready."""
    proc, log = _start(tmp_path, values, database)
    try:
        children = _wait("the server processes to be started", lambda: len(c := _children(proc.pid)) == 2 and c)
        os.kill(proc.pid, signal.SIGSTOP)  # the parent sees nothing until both happened
        first = min(children)
        os.kill(first, signal.SIGKILL)
        _wait("the first server process to end", lambda: not _alive(first))
        assert "is ready" not in log.read_text(), "a server process was ready already: nothing was checked"
        os.kill(proc.pid, signal.SIGTERM)
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=120) == -signal.SIGTERM, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert "Error:" not in output, output
    assert "Traceback" not in output, output
    _wait("the other server process to end", lambda: not any(_alive(pid) for pid in children), timeout=60)


def test_ctrl_c_at_the_terminal_stops_every_process_with_a_goodbye(tmp_path: Path, values: Path, database: str) -> None:
    import pexpect

    port = free_port()
    env = cli.cli_env(
        tmp_path / "config.yaml",
        AIRPOOL_DATABASE_URL=database,
        AIRPOOL_ADMIN_USERNAME="admin",
        AIRPOOL_ADMIN_PASSWORD=PASSWORD,
    )
    args = ["serve", "-f", str(values), "--port", str(port), "--no-commander", "--workers", "2"]
    child = pexpect.spawn(cli.AIRPOOL[0], args, env=env, encoding="utf-8", dimensions=(40, 160), timeout=120)
    child.expect("--workers 2 on SQLite: the server processes write one at a time")  # said before the banner
    child.expect("the parent of 2 server processes")
    child.expect(r"server process \d \(pid (\d+)\) is ready")
    first = int(child.match.group(1))
    child.expect(r"server process \d \(pid (\d+)\) is ready")
    children = {first, int(child.match.group(1))}
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
    child.sendintr()  # Ctrl-C: the whole foreground process group gets SIGINT
    child.expect("Goodbye.")
    rest = str(child.before)
    assert cli.finish(child) == 0
    assert "Traceback" not in rest
    assert "KeyboardInterrupt" not in rest
    _wait("the server processes to end", lambda: not any(_alive(pid) for pid in children), timeout=30)


def test_a_websocket_subscription_is_served_by_a_server_process(two: Served) -> None:
    """``astro deployment logs --follow`` talks graphql-ws at /ws: the upgrade happens in the process the
    connection was handed to."""
    from websockets.sync.client import connect

    token = GraphQL(two.base).login("admin").token
    url = two.base.replace("http://", "ws://") + "/ws"
    with connect(url, subprotocols=[Subprotocol("graphql-ws")], open_timeout=60) as ws:
        assert ws.subprotocol == "graphql-ws"
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": token}}))
        assert json.loads(ws.recv(timeout=60)) == {"type": "connection_ack"}
        held = connections_per_process(int(two.base.rsplit(":", 1)[1]))
        assert set(held) <= set(_ready_pids(two)), held  # held by a server process, not the parent
        assert sum(held.values()) >= 1


def _open_files_limits(pid: int) -> tuple[int, int]:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def test_serve_raises_its_open_files_limit_to_the_hard_limit(values: Path, database: str, tmp_path: Path) -> None:
    """A common default soft limit (1,024) is far below what thousands of pool watches and clients need; the hard
    limit is the administrator's. The server processes inherit the raised limit."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard > 256, "this machine's hard limit leaves nothing to raise"

    def default_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    proc, log = _start(tmp_path, values, database, preexec_fn=default_soft_limit)
    try:
        _wait("both server processes", lambda: len(_ready_pids(log)) == 2)
        for pid in (proc.pid, *_children(proc.pid)):
            assert _open_files_limits(pid) == (hard, hard), pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
