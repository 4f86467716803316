"""Take docs/img/audit-dashboard.png: the demo's audit dashboard in a real headless Chromium.

Run by ``bash scripts/screenshot``: serves the demo (``regstack_demo --serve``, which runs the
tour), signs the admin in (a session made with Django), drives Chromium over the DevTools protocol.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "img" / "audit-dashboard.png"
DASHBOARD = "/admin/regstack_audit/authevent/dashboard/"
WIDTH = 1100
DEADLINE = 180.0


class DevTools:
    """A minimal WebSocket client (RFC 6455: masked text frames) for one DevTools target."""

    def __init__(self, ws_url: str) -> None:
        match = re.match(r"ws://([^/:]+):(\d+)(/.*)", ws_url)
        assert match, ws_url
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"DevTools refused the WebSocket: {head[:200]!r}")
        self.next_id = 0

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def _send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        header = b"\x81" + (
            bytes([0x80 | n])
            if n < 126
            else bytes([0x80 | 126]) + struct.pack(">H", n)
            if n < 65536
            else bytes([0x80 | 127]) + struct.pack(">Q", n)
        )
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _receive(self) -> dict[str, Any]:
        message = b""
        while True:
            first, second = self._recv_exact(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            message += self._recv_exact(n)
            if first & 0x80:  # FIN: the message is complete
                result: dict[str, Any] = json.loads(message)
                return result

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; return its result (events that arrive meanwhile are dropped)."""
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        for _ in range(10_000):
            reply = self._receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
        raise RuntimeError(f"{method}: no answer")

    def wait_for(self, event: str) -> None:
        for _ in range(10_000):
            if self._receive().get("method") == event:
                return
        raise RuntimeError(f"{event} never came")


def serve_demo(python: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``regstack_demo --serve`` on a free port; return it and its base URL once it serves."""
    server = subprocess.Popen(
        [python, "manage.py", "regstack_demo", "--serve", "--port", "0", "--no-worker"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    started = time.monotonic()
    base = None
    for line in server.stdout:
        print(f"  demo | {line.rstrip()}")
        found = re.search(r"Serving Django \+ regstack at (http://127\.0\.0\.1:\d+)/", line)
        base = base or (found.group(1) if found else None)
        if "Still serving" in line and base:
            return server, base
        if time.monotonic() - started > DEADLINE:
            break
    server.kill()
    raise SystemExit("The demo did not start serving (see its output above).")


def admin_session(python: str) -> str:
    """Return a session key for the demo's superuser (created when missing), made by Django."""
    code = (
        "from django.contrib.auth import get_user_model; from django.test import Client; "
        "import os; User = get_user_model(); "
        "name = os.environ.get('DJANGO_SUPERUSER_USERNAME', 'admin'); "
        "user = User.objects.filter(username=name).first() or "
        "User.objects.create_superuser(name, 'admin@example.com', None); "
        "c = Client(); c.force_login(user); print('SESSION', c.cookies['sessionid'].value)"
    )
    done = subprocess.run(
        [python, "manage.py", "shell", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return re.findall(r"^SESSION (\S+)$", done.stdout, re.MULTILINE)[-1]


def screenshot(chromium: str, url: str, session: str) -> bytes:
    """Load ``url`` signed in with ``session`` in headless Chromium; return the full-page PNG."""
    with tempfile.TemporaryDirectory(prefix="regstack-screenshot-") as profile:
        browser = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text().strip():
                if time.monotonic() > deadline or browser.poll() is not None:
                    raise SystemExit("Chromium did not start its DevTools endpoint.")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
                page = next(t for t in json.load(r) if t["type"] == "page")
            tools = DevTools(page["webSocketDebuggerUrl"])
            tools.call("Network.enable")
            tools.call("Network.setCookie", name="sessionid", value=session, url=url)
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            tools.call("Page.enable")
            tools.call("Page.navigate", url=url)
            tools.wait_for("Page.loadEventFired")
            title = tools.call("Runtime.evaluate", expression="document.title")["result"]["value"]
            if not str(title).startswith("Audit dashboard"):
                raise SystemExit(f"Chromium did not reach the dashboard: the page is {title!r}.")
            size = tools.call("Page.getLayoutMetrics")["cssContentSize"]
            shot = tools.call(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": WIDTH, "height": size["height"], "scale": 1},
            )
            return base64.b64decode(shot["data"])
        finally:
            browser.terminate()
            browser.wait(timeout=30)


def main() -> int:
    python, chromium = sys.argv[1], sys.argv[2]
    server, base = serve_demo(python)
    try:
        png = screenshot(chromium, base + DASHBOARD, admin_session(python))
    finally:
        server.terminate()
        server.wait(timeout=60)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(png)
    print(f"wrote {OUT.relative_to(REPO)} ({len(png):,} bytes) from {base}{DASHBOARD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
