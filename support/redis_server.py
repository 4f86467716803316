"""A throw-away ``redis-server`` on a free loopback port, for the scale-out tests and figures.

It never touches a Redis a developer runs on 6379; ``bash scripts/test`` installs the binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from support.net import free_port

#: What a run without ``redis-server`` reports (pytest's skip reason, nox's warning).
SKIP_REASON = (
    "scale-out leg skipped: redis-server not available "
    "(install it: apt-get install redis-server; bash scripts/test does so when it can)"
)


def redis_server_path() -> str | None:
    """The ``redis-server`` executable on PATH, or ``None``."""
    return shutil.which("redis-server")


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:<port>``, files under ``directory``.

    Use it as a context manager. :meth:`stop` and :meth:`start` can be called
    again in between (same port, same directory): the Redis-down test stops
    the server under a running site and brings it back.
    """

    def __init__(self, directory: Path, port: int | None = None) -> None:
        executable = redis_server_path()
        if executable is None:
            raise RuntimeError(SKIP_REASON)
        self.executable = executable
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers ``PING``."""
        if self.process is not None:
            return
        command = [
            self.executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.log_path),
            "--save",
            "",  # no RDB snapshots: the data dies with the test
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.directory
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_path.read_text() if self.log_path.exists() else ""
                self.process = None
                raise RuntimeError(f"redis-server exited at start-up:\n{log[-2000:]}")
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} in {timeout} s")

    def ping(self) -> bool:
        """Whether the server answers ``PING`` (inline command, no client library)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM; SIGKILL if it does not exit in ``timeout``)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def on_ci() -> bool:
    """Whether this is CI, where a missing ``redis-server`` is an error, not a skip."""
    return bool(os.environ.get("CI"))
