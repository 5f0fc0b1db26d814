"""`picaivid stack up`: the local stack that mirrors production, in one command."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from flows.cli.output import console, fail

app = typer.Typer(help="The local stack: Prefect server, CPU and GPU pools with workers, deployments.",
                  no_args_is_help=True)


@app.command("up")
def up(
    port: Annotated[int, typer.Option("--port", help="Prefect API and UI port.")] = 4200,
    gpu_slots: Annotated[int, typer.Option("--gpu-slots", min=1, help="render-clip runs at once.")] = 1,
    cpu_slots: Annotated[int, typer.Option("--cpu-slots", min=1, help="CPU-pool flow runs at once.")] = 4,
    relay: Annotated[bool, typer.Option("--relay/--no-relay",
                                        help="Also run the SQS relay (needs PICAIVID_QUEUE_URL and "
                                             "PICAIVID_DEAD_LETTER_QUEUE_URL), and the events publisher "
                                             "when PICAIVID_EVENTS_QUEUE_URL or PICAIVID_WEBHOOK_URL is set.")] = False,
    root: Annotated[Optional[Path], typer.Option("--root", help="Default: <data dir>/stack.")] = None,
) -> None:
    """Start everything, deploy prefect.yaml, and stay up until Ctrl-C or SIGTERM."""
    from flows.local_stack import LocalStack, StackConfig, StackError, pipeline_env
    from tasks.settings import get_settings

    settings = get_settings()
    if relay and not (settings.queue_url and settings.dead_letter_queue_url):
        fail("--relay needs PICAIVID_QUEUE_URL and PICAIVID_DEAD_LETTER_QUEUE_URL")
    config = StackConfig(root=root or settings.data_dir / "stack", port=port, gpu_slots=gpu_slots,
                         cpu_slots=cpu_slots, env=pipeline_env())
    stack = LocalStack(config)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        with console.status("starting the Prefect server, pools, deployments and workers…", spinner="dots"):
            stack.start()
            if relay:
                stack.start_relay(settings.queue_url, settings.dead_letter_queue_url)  # type: ignore[arg-type]
                if settings.events_queue_url or settings.webhook_url:
                    stack.start_publisher()
    except StackError as err:
        fail(str(err))
    env_file = stack.root / "stack.env"
    console.print(f"[bold]stack up[/]: UI http://127.0.0.1:{port}  API {config.api_url}")
    console.print(f"pools {config.cpu_pool} (CPU), {config.gpu_pool} (GPU, {gpu_slots} slot(s)); logs in {stack.logs}")
    console.print(f"in another shell: [bold]source {env_file}[/] then e.g.\n"
                  "  prefect deployment run create-video/create-video -p job_id=JOB_ID")
    try:
        while not stopping.wait(2.0):
            if dead := stack.exited():
                console.print(f"[red]stopped on its own:[/] {', '.join(dead)}\n{stack.log_tail(dead[0])}")
                raise typer.Exit(1)
    finally:
        with console.status("stopping…"):
            stack.stop()
