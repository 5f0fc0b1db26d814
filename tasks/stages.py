"""A phase's named steps: Prefect tasks inside a flow run, plain calls everywhere else.

The phases' code runs the same with or without Prefect (unit tests, `python -m`). Inside a
flow run each stage is a task run, so the UI shows the steps of a phase with their times and
which one failed. Postgres is the record and the cache: a stage never keeps its result in
Prefect (no cache, nothing persisted), so a rerun recomputes from the database's state.

Only I/O stages retry, with exponential backoff, and only on failures that another try can
cure (a connection dropped, S3 throttled, the database restarting). A compute step or a bad
input fails at once: running it again would give the same answer.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

IO_RETRIES = 3
IO_BACKOFF_S = 2.0  # 2 s, 4 s, 8 s (Prefect adds jitter)
THROTTLED = frozenset({"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "InternalError",
                       "ServiceUnavailable", "503", "500"})


def is_transient(err: BaseException) -> bool:
    """Worth another try: the network, the store or the database hiccuped, not our input (a
    missing object, tasks.storage.ArtifactNotFound, is a FileNotFoundError: never retried)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(err, (ConnectionError, TimeoutError, BotoCoreError, OperationalError)):
        return True
    if isinstance(err, DBAPIError):
        return bool(err.connection_invalidated)
    if isinstance(err, ClientError):
        return err.response.get("Error", {}).get("Code", "") in THROTTLED
    return False


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    err = state.result(raise_on_failure=False)
    return isinstance(err, BaseException) and is_transient(err)


def _in_flow_run() -> bool:
    if "prefect" not in sys.modules:  # nothing imported Prefect: no flow run can be going on
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def stage(name: str, *, io: bool = False) -> Callable[[F], F]:
    """Name a step of a phase; `io=True` lets it retry transient failures with backoff."""

    def decorate(fn: F) -> F:
        @functools.cache
        def as_task() -> Any:
            from prefect import task
            from prefect.cache_policies import NO_CACHE
            from prefect.tasks import exponential_backoff

            retries = {"retries": IO_RETRIES, "retry_delay_seconds": exponential_backoff(IO_BACKOFF_S),
                       "retry_condition_fn": _retry_if_transient} if io else {}
            return task(fn, name=name, task_run_name=name, cache_policy=NO_CACHE, persist_result=False, **retries)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            return as_task()(*args, **kwargs) if _in_flow_run() else fn(*args, **kwargs)

        run.stage_name = name  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate
