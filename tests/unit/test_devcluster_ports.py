"""Ports the dev cluster's processes and the test servers listen on: picked below the kernel's ephemeral range, so
that no outgoing connection can take one between the pick and the server's start."""

from __future__ import annotations

import socket

from airpool.devcluster import processes


def test_free_ports_lie_below_the_ephemeral_range_and_can_be_listened_on() -> None:
    low = int(processes.EPHEMERAL_RANGE_FILE.read_text().split()[0])
    picked = {processes.free_port() for _ in range(50)}
    assert all(processes.LISTEN_PORT_FLOOR <= port < low for port in picked), sorted(picked)
    assert len(picked) > 1  # picked at random: two servers started at once rarely get the same one
    for port in sorted(picked)[:5]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()


def test_a_port_in_use_is_never_picked() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        taken = server.getsockname()[1]
        for _ in range(20):  # the port in use is one of two candidates: never picked
            picked = processes.free_port(range(taken, taken + 2))
            assert picked != taken
            assert processes.port_is_free(picked)
        # Nothing of the candidates free: the kernel's choice, still a free port.
        fallback = processes.free_port(range(taken, taken + 1))
        assert fallback != taken
        assert processes.port_is_free(fallback)


def test_the_range_below_the_ephemeral_one() -> None:
    assert processes.listen_ports(32768) == range(processes.LISTEN_PORT_FLOOR, 32768)
    # A machine whose ephemeral range starts low leaves no room: free_port falls back to the kernel's choice.
    assert len(processes.listen_ports(1024)) == 0
