"""One local Prefect server for every CLI command under a Prefect home, started by the first
that needs it and reused by the rest.

Without PREFECT_API_URL, Prefect gives each process a temporary server of its own: about 20 s
to start, a job failed outright when a busy machine takes longer (`Timed out while attempting
to connect to ephemeral Prefect API server`), and several commands at once contending for
one SQLite file (`database is locked`). Instead the CLI starts `prefect server start` once,
in its own session so it outlives the command, records its URL in the Prefect home and lets
every later command reuse it; a file lock makes commands starting together start one server.
Its UI then shows the CLI's runs too. A configured PREFECT_API_URL (the local stack,
production) is used as it is.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_FILE = "picaivid-server.json"
LOCK_FILE = "picaivid-server.lock"
LOG_FILE = "picaivid-server.log"
START_TIMEOUT_S = 600.0  # a loaded machine is slow, not broken: waiting beats failing the job


class LocalApiError(RuntimeError):
    """The local Prefect server did not come up; the message ends with its log."""


def prefect_home() -> Path:
    """Prefect's home as Prefect resolves it (read without importing Prefect, which is slow)."""
    return Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()


def configured_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def is_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_healthy(api_url: str, exited: Callable[[], int | None], timeout_s: float,
                       log_tail: Callable[[], str]) -> None:
    """Until the server answers; it exiting (`exited` gives its code) or the time running out
    raises with its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (code := exited()) is not None:
            raise LocalApiError(f"the Prefect server exited with {code}:\n{log_tail()}")
        if is_healthy(api_url):
            return
        time.sleep(0.5)
    raise LocalApiError(f"the Prefect server did not answer on {api_url} within {timeout_s:.0f} s:\n{log_tail()}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _recorded(home: Path) -> dict | None:
    try:
        return json.loads((home / SERVER_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def running_server(home: Path) -> str | None:
    """The recorded server's API URL while it answers."""
    state = _recorded(home)
    return state["api_url"] if state and is_healthy(state["api_url"]) else None


def _alive(pid: int) -> bool:
    """The recorded server process still runs (not some later process given its pid)."""
    try:
        return b"prefect" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def ensure_local_api(home: Path | None = None, timeout_s: float = START_TIMEOUT_S,
                     on_start: Callable[[], None] | None = None) -> str:
    """The API URL for this process: the configured one, else the shared local server's,
    started now (`on_start` is told) when none answers."""
    if url := configured_api_url():
        return url
    home = home or prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / LOG_FILE
    with _locked(home / LOCK_FILE):
        state = _recorded(home)
        if state and _alive(state["pid"]):  # slow to answer on a busy machine is not gone
            wait_until_healthy(state["api_url"], lambda: None if _alive(state["pid"]) else -1, timeout_s,
                               lambda: _tail(log_path))
            return state["api_url"]
        if on_start is not None:
            on_start()
        port = _free_port()
        url = f"http://127.0.0.1:{port}/api"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                     "PREFECT_UI_API_URL": url},  # else the UI calls port 4200
            )
        try:
            wait_until_healthy(url, proc.poll, timeout_s, lambda: _tail(log_path))
        except BaseException:
            _stop_group(proc.pid)
            raise
        (home / SERVER_FILE).write_text(json.dumps({"api_url": url, "pid": proc.pid}))
        return url


def stop_local_api(home: Path | None = None) -> str | None:
    """Stop the recorded server (its whole process group); returns its URL, None if none ran."""
    home = home or prefect_home()
    with _locked(home / LOCK_FILE):
        state = _recorded(home)
        if state is None:
            return None
        _stop_group(state["pid"])
        (home / SERVER_FILE).unlink()
        return state["api_url"]


def _stop_group(pid: int, grace_s: float = 20.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # our own child (it started here): reap it, or it lingers
        except ChildProcessError:
            pass
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
