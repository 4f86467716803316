"""Brokers for the background tests: a Tasks backend that talks TCP, and servers for it.

Nothing listening: a broker that refuses; :class:`SilentServer`: a frozen one.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

_base = import_string(f"{settings.TASKS_PACKAGE}.backends.base.BaseTaskBackend")


class SocketBackend(_base):  # type: ignore[misc,valid-type]
    supports_defer = False
    supports_async_task = True
    supports_priority = True

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        options = self.options
        with socket.create_connection(
            ("127.0.0.1", options["PORT"]), timeout=options.get("TIMEOUT", 60)
        ) as conn:
            conn.sendall(b"ENQUEUE\n")
            if not conn.recv(1):
                raise ConnectionError("the broker closed the connection")
        self.enqueued.append((timezone.now(), args))
        return None

    @property
    def enqueued(self) -> list[Any]:
        found: list[Any] = self.__dict__.setdefault("_enqueued", [])
        return found


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        """Close everything: blocked clients then see the connection end."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def socket_tasks(port: int, timeout: float = 60.0) -> dict[str, Any]:
    """A ``TASKS`` setting whose default backend is :class:`SocketBackend` on ``port``."""
    return {
        "default": {
            "BACKEND": "tests.brokers.SocketBackend",
            "QUEUES": [],
            "OPTIONS": {"PORT": port, "TIMEOUT": timeout},
        }
    }
