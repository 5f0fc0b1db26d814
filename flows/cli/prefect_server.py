"""`picaivid prefect-server`: the local Prefect server the CLI's runs are recorded on."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.output import console, emit

app = typer.Typer(help="The local Prefect server `picaivid run` starts once and reuses (flows.local_api).",
                  no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


@app.command("status")
def status(as_json: JsonFlag = False) -> None:
    """Its API and UI address, if it is running."""
    from flows.local_api import prefect_home, running_server

    url = running_server(prefect_home())
    emit({"api_url": url}, as_json, lambda d: console.print(
        f"running: UI {d['api_url'].removesuffix('/api')}  API {d['api_url']}" if d["api_url"] else "not running"))


@app.command("stop")
def stop(as_json: JsonFlag = False) -> None:
    """Stop it (the next `picaivid run` starts it again)."""
    from flows.local_api import prefect_home, stop_local_api

    url = stop_local_api(prefect_home())
    emit({"stopped": url}, as_json, lambda d: console.print(f"stopped {d['stopped']}" if d["stopped"] else "not running"))
