"""The local stack: production's topology on one machine.

A Prefect server, a CPU and a GPU work pool (type `process`) with a worker each, and every
deployment of `prefect.yaml` created by `prefect deploy --all`, exactly as in production but
with process pools instead of ECS ones. A run then goes through the same deployments and
dispatch as production: `create-video` on the CPU pool fans clips out as `render-clip` runs
on the GPU pool, where the CPU renderer stands in for LTX-2 when there is no GPU.

Every process gets the same pipeline settings (database, artifact store, data folder), so
they share one system of record: the embedded PostgreSQL is started to outlive this process
when no DATABASE_URL is given.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from flows.local_api import LocalApiError, wait_until_healthy

log = structlog.get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]


class StackError(RuntimeError):
    """A part of the local stack did not come up; the message says which and shows its log."""


@dataclass(frozen=True)
class StackConfig:
    root: Path  # Prefect's home (its SQLite database), the processes' logs, stack.env
    port: int = 4200
    cpu_pool: str = "picaivid-cpu"
    gpu_pool: str = "picaivid-gpu"
    cpu_slots: int = 4  # flow runs at once on the CPU pool (create-video and phase runs)
    gpu_slots: int = 1  # render-clip runs at once: the GPU pool's concurrency limit
    worker_poll_seconds: float = 5.0
    ui: bool = True
    env: dict[str, str] = field(default_factory=dict)  # pipeline settings every process gets

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


def code_version() -> str:
    """What `prefect.yaml` stamps on the stack's deployments: the package version, plus the
    commit where this is a git checkout (production uses the image tag, itself the git sha)."""
    from importlib.metadata import version

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sha = ""
    return f"{version('picaivid')}+{sha}" if sha else version("picaivid")


def pipeline_env() -> dict[str, str]:
    """The settings that make every process of the stack use the same database and store.

    Relative paths are made absolute (flow runs start in the code folder, not here), and the
    embedded PostgreSQL, if that is the database, is left running for the workers.
    """
    from db.session import start_embedded_postgres
    from tasks.settings import get_settings

    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    url = settings.database_url or start_embedded_postgres(data_dir / "pgdata", keep_running=True)
    return {
        "DATABASE_URL": url,
        "PICAIVID_DATA_DIR": str(data_dir),
        "PICAIVID_STORAGE_URL": settings.resolved_storage_url,
    }


class LocalStack:
    """Start with `start()` (or as a context manager); `stop()` ends every process it began."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.root = config.root.resolve()
        self.logs = self.root / "logs"
        self.server: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.relay: subprocess.Popen | None = None
        self.publisher: subprocess.Popen | None = None

    # ----------------------------------------------------------------------- environment

    def env(self) -> dict[str, str]:
        """What every process of the stack (and a shell that talks to it) needs."""
        c = self.config
        return {
            **c.env,
            "PREFECT_HOME": str(self.root / "prefect"),
            "PREFECT_API_URL": c.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PICAIVID_RENDER_DISPATCH": "deployment",
            "PICAIVID_GPU_RENDER_CONCURRENCY": str(c.gpu_slots),
            "PICAIVID_CPU_POOL": c.cpu_pool,
            "PICAIVID_GPU_POOL": c.gpu_pool,
            "PICAIVID_CPU_IMAGE": "local",  # process pools run the code in place, not an image
            "PICAIVID_GPU_IMAGE": "local",
            "PICAIVID_CODE_DIR": str(REPO_ROOT),
            "PICAIVID_VERSION": code_version(),
        }

    def _child_env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.env(), **extra}

    def write_env_file(self) -> Path:
        """`source` it in another shell to talk to the stack (prefect CLI, picaivid relay)."""
        path = self.root / "stack.env"
        path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(self.env().items())))
        return path

    # ----------------------------------------------------------------------- lifecycle

    def start(self, timeout_s: float = 180.0) -> LocalStack:
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._start_server(timeout_s)
            self._create_pools()
            self._deploy()
            for pool in (self.config.cpu_pool, self.config.gpu_pool):
                self.start_worker(pool)
        except BaseException:
            self.stop()
            raise
        self.write_env_file()
        log.info("stack.started", api=self.config.api_url, cpu_pool=self.config.cpu_pool, gpu_pool=self.config.gpu_pool)
        return self

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, grace_s: float = 20.0) -> None:
        """Relay and workers first (SIGTERM to their process groups, so flow runs stop too), then the server."""
        procs = [p for p in (self.relay, self.publisher, *self.workers.values(), self.server) if p is not None]
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self.workers.clear()
        self.server = self.relay = self.publisher = None

    def exited(self) -> list[str]:
        """The parts that have stopped on their own (a healthy stack returns [])."""
        parts = {"server": self.server, "relay": self.relay, "publisher": self.publisher,
                 **{f"worker-{k}": v for k, v in self.workers.items()}}
        return [name for name, proc in parts.items() if proc is not None and proc.poll() is not None]

    # ----------------------------------------------------------------------- parts

    def _spawn(self, name: str, args: list[str], **extra_env: str) -> subprocess.Popen:
        """A child in its own process group, logging to logs/<name>.log."""
        out = open(self.logs / f"{name}.log", "ab")
        try:
            return subprocess.Popen(
                args, cwd=REPO_ROOT, env=self._child_env(**extra_env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()  # the child holds its own descriptor

    def _start_server(self, timeout_s: float) -> None:
        c = self.config
        self.server = self._spawn(
            "server", [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(c.port)],
            PREFECT_UI_ENABLED=str(c.ui).lower(),
        )
        try:
            wait_until_healthy(c.api_url, self.server.poll, timeout_s, lambda: self.log_tail("server"))
        except LocalApiError as err:
            raise StackError(str(err)) from None

    def _create_pools(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import WorkPoolCreate
        from prefect.settings import PREFECT_API_URL, temporary_settings
        from prefect.workers.process import ProcessWorker

        template = ProcessWorker.get_default_base_job_template()
        c = self.config
        with temporary_settings({PREFECT_API_URL: c.api_url}), get_client(sync_client=True) as client:
            for name, slots, role in ((c.cpu_pool, c.cpu_slots, "CPU"), (c.gpu_pool, c.gpu_slots, "GPU")):
                client.create_work_pool(
                    WorkPoolCreate(name=name, type="process", base_job_template=template, concurrency_limit=slots,
                                   description=f"local stand-in for the {role} ECS pool"),
                    overwrite=True,
                )

    def _deploy(self) -> None:
        """`prefect deploy --all` from prefect.yaml: the same command as production."""
        result = subprocess.run(
            [*_prefect(), "--no-prompt", "deploy", "--all"], cwd=REPO_ROOT, env=self._child_env(),
            capture_output=True, text=True,
        )
        (self.logs / "deploy.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise StackError(f"prefect deploy --all failed ({result.returncode}):\n{self.log_tail('deploy')}")

    def start_worker(self, pool: str) -> subprocess.Popen:
        """A process worker for `pool` (again, after `kill_worker`: the stand-in for a new instance)."""
        slots = self.config.gpu_slots if pool == self.config.gpu_pool else self.config.cpu_slots
        proc = self._spawn(
            f"worker-{pool}", [*_prefect(), "worker", "start", "--pool", pool, "--type", "process",
                               "--limit", str(slots), "--name", f"{pool}-{len(self.workers) + 1}-{os.getpid()}"],
            PREFECT_WORKER_QUERY_SECONDS=str(self.config.worker_poll_seconds),
        )
        self.workers[pool] = proc
        return proc

    def kill_worker(self, pool: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """End the worker of `pool` alone, like a lost instance; `start_worker` brings a new one."""
        proc = self.workers.pop(pool)
        proc.send_signal(sig)
        proc.wait()

    def start_relay(self, queue_url: str, dead_letter_url: str, wait_seconds: int = 20) -> subprocess.Popen:
        """`picaivid relay` on the stack: Rails' messages become create-video runs here too."""
        self.relay = self._spawn("relay", [
            sys.executable, "-m", "flows.cli", "relay", "--queue-url", queue_url,
            "--dead-letter-url", dead_letter_url, "--wait-seconds", str(wait_seconds),
        ])
        return self.relay

    def start_publisher(self, **settings_env: str) -> subprocess.Popen:
        """`picaivid publish-events` on the stack: the events outbox delivered to Rails' queue/webhook."""
        self.publisher = self._spawn("publisher", [sys.executable, "-m", "flows.cli", "publish-events"], **settings_env)
        return self.publisher

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _prefect() -> list[str]:
    return [sys.executable, "-m", "prefect"]


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
