"""``port_is_free`` asks what a server would be told when it binds (with SO_REUSEADDR)."""

from __future__ import annotations

import socket

from deploy.local.stack import free_port, port_is_free


def listener(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_a_port_left_in_time_wait_after_a_stop_is_free() -> None:
    port = free_port()
    server = listener(port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first, so 127.0.0.1:port sits in TIME-WAIT
    assert client.recv(1) == b""
    client.close()
    server.close()  # the server has stopped: nothing listens any more

    assert port_is_free(port)


def test_a_port_with_a_listener_is_taken() -> None:
    port = free_port()
    with listener(port):
        assert not port_is_free(port)
    with socket.socket() as plain:  # one bound without SO_REUSEADDR too
        plain.bind(("127.0.0.1", port))
        plain.listen()
        assert not port_is_free(port)
