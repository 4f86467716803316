"""Loopback ports for the servers the tests and the benchmarks start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a loopback TCP port nothing listens on right now (the OS picks; the race is tiny)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
