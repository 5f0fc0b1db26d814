"""Stop a flow run and the machine it runs on, for anyone who gives up on a run.

Marking a run Crashed only changes what the UI says; the machine under it keeps running (and
billing). Cancelling is what Prefect's machinery acts on: a run that never started is stopped
by its worker (the ECS worker calls StopTask on the task still waiting for capacity), a running
one by the `prefect flow-run execute` supervisor inside its own container, which signals
the engine (our SIGTERM handler marks the clip `interrupted`) and exits, so the task stops.
When nothing answers within `confirm_s` (the machine is already gone, nobody is left to
report), the run is forced to Crashed with the same reason, so it never sits in Cancelling.
"""

from __future__ import annotations

import time
import uuid

import structlog

log = structlog.get_logger(__name__)


def stop_flow_run(flow_run_id: uuid.UUID | str, reason: str, confirm_s: float = 60.0, poll_s: float = 1.0) -> str:
    """Cancel the run so its infrastructure is stopped; returns the name of the final state it reached.

    Safe to call on a run that already ended (its state is left as it is).
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling, Crashed

    run_id = uuid.UUID(str(flow_run_id))
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
        if state is not None and state.is_final():
            return state.name
        client.set_flow_run_state(run_id, Cancelling(message=reason))
        deadline = time.monotonic() + confirm_s
        while True:
            state = client.read_flow_run(run_id).state
            if state is not None and state.is_final():
                log.info("flow_run.stopped", flow_run_id=str(run_id), state=state.name, reason=reason)
                return state.name
            if time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
        message = f"{reason}; nothing answered the cancel within {confirm_s:g} s: its machine is gone"
        client.set_flow_run_state(run_id, Crashed(message=message), force=True)
        log.warning("flow_run.stop_unanswered", flow_run_id=str(run_id), reason=reason)
        return "Crashed"
