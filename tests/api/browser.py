"""Headless Chromium driven over the DevTools protocol, with the network cut off.

Debian's ``chromium`` (``make system-deps``), started with
``--remote-debugging-port=0``; this module speaks the protocol over the one
WebSocket it opens (``websockets``, already installed with uvicorn[standard]):
no Playwright, no browser download.

Every request the page makes is paused by the ``Fetch`` domain before it
leaves: one to an allowed origin (the graphsvc under test) continues, any other
is failed and recorded in :attr:`Browser.blocked`. As a second wall, the
browser resolves no host name but ``127.0.0.1`` (``--host-resolver-rules``),
and its own background traffic (updates, safe browsing, sync) is off.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
)


class BrowserError(AssertionError):
    """The browser did not do what the test waited for."""


class Browser:
    """One page of a headless Chromium whose requests leave only for ``allowed`` origins."""

    def __init__(self, ws: ClientConnection, session: str, allowed: set[str]) -> None:
        self._ws = ws
        self._session = session
        self._allowed = allowed
        self._next_id = 0
        self.requests: list[str] = []
        """Every URL the page asked for (not ``data:`` ones: Fetch never sees those)."""
        self.blocked: list[str] = []
        """URLs the page asked for on another origin: refused before they left."""
        self.problems: list[str] = []
        """Script exceptions, console errors and browser errors (refused loads, CSP)."""

    # ---------------------------------------------------------------- protocol

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        """Send one command to the page and return its result, handling events meanwhile."""
        self._next_id += 1
        ident = self._next_id
        self._send({"id": ident, "method": method, "params": params or {}})
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                raise BrowserError(f"{method}: no answer within {timeout} s")
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _send(self, message: dict[str, Any]) -> None:
        self._ws.send(json.dumps({**message, "sessionId": self._session}))

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        try:
            raw = self._ws.recv(timeout=max(timeout, 0.01))
        except TimeoutError:
            return None
        found: dict[str, Any] = json.loads(raw)
        return found

    def pump(self, seconds: float) -> None:
        """Handle the page's events for ``seconds`` (the page waits on paused requests)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            message = self._receive(left)
            if message is not None:
                self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            self.requests.append(url)
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" in self._allowed:
                self._send(
                    {
                        "id": 0,
                        "method": "Fetch.continueRequest",
                        "params": {"requestId": params["requestId"]},
                    }
                )
            else:
                self.blocked.append(url)
                self._send(
                    {
                        "id": 0,
                        "method": "Fetch.failRequest",
                        "params": {
                            "requestId": params["requestId"],
                            "errorReason": "BlockedByClient",
                        },
                    }
                )
        elif method == "Network.webSocketCreated":
            url = params["url"]
            self.requests.append(url)
            if (
                f"{'http' if url.startswith('ws:') else 'https'}://{urlsplit(url).netloc}"
                not in self._allowed
            ):
                self.blocked.append(url)
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.problems.append(
                f"exception: {details.get('exception', {}).get('description') or details.get('text')}"
            )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.problems.append(f"console.{params['type']}: {' '.join(texts)}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.problems.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}")

    # ---------------------------------------------------------------- the page

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait for its ``load`` event."""
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", what=f"{url} to load")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, what: str, timeout: float = 60) -> Any:
        """Evaluate ``expression`` until it is truthy; return that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText.slice(0, 2000) : ''")
                raise BrowserError(
                    f"waited {timeout} s for {what}; the page shows: {text!r}; "
                    f"problems: {self.problems}; blocked: {self.blocked}"
                )
            self.pump(0.2)

    def screenshot(self, path: Path) -> None:
        """Write a PNG of the page to ``path`` (for a person looking into a failure)."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))


def _devtools_address(profile: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    """The browser's WebSocket address, from the ``DevToolsActivePort`` file Chromium writes."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrowserError(f"chromium exited with {proc.returncode}")
        if marker.exists():
            lines = marker.read_text().split("\n")
            if len(lines) >= 2 and lines[1]:
                return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        time.sleep(0.1)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout} s")


@contextmanager
def offline_browser(profile: Path, allowed: set[str]) -> Iterator[Browser]:
    """A headless Chromium page whose requests may reach only the ``allowed`` origins.

    Args:
        profile: An empty folder for the browser's profile (its stderr goes to ``chromium.log`` there).
        allowed: Origins such as ``http://127.0.0.1:8123``.
    """
    assert CHROMIUM is not None
    profile.mkdir(parents=True, exist_ok=True)
    log = (profile / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        address = _devtools_address(profile, proc)
        with connect(address, max_size=64 * 2**20, open_timeout=30) as ws:
            target = boot_call(ws, "Target.createTarget", {"url": "about:blank"})["targetId"]
            session = boot_call(ws, "Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            page = Browser(ws, session, allowed)
            page.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
            for domain in ("Network", "Runtime", "Log", "Page"):
                page.call(f"{domain}.enable")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


def boot_call(ws: ClientConnection, method: str, params: dict[str, Any]) -> Any:
    """One command to the browser itself (not a page), before any page session exists."""
    ident = 10**6 + len(method)
    ws.send(json.dumps({"id": ident, "method": method, "params": params}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=30))
        if message.get("id") == ident:
            if "error" in message:
                raise BrowserError(f"{method}: {message['error']}")
            return message["result"]
    raise BrowserError(f"{method}: no answer")
