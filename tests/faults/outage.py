"""A PostgreSQL of the fault tests' own that they can stop and start again for real (the
session's server is shared by every other test, so it is never touched)."""

from __future__ import annotations

import threading
import time
from pathlib import Path


class PrivatePostgres:
    """pgserver's PostgreSQL under `pgdata`, stopped and started with its own pg_ctl."""

    def __init__(self, pgdata: Path) -> None:
        from db.session import start_embedded_postgres

        self.url = start_embedded_postgres(pgdata)
        import pgserver

        self.server = pgserver.get_server(pgdata.resolve())

    def stop(self) -> None:
        """Immediate shutdown: every connection is cut, as a crash or a failover cuts them."""
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        """Start it again on the same socket (crash recovery included), so the same URL works."""
        self.server.ensure_postgres_running()

    def outage(self, seconds: float) -> threading.Thread:
        """Stop now and start again `seconds` later, from a thread; returns it (join to wait)."""
        self.stop()
        down = time.monotonic()

        def restart() -> None:
            time.sleep(max(0.0, seconds - (time.monotonic() - down)))
            self.start()

        thread = threading.Thread(target=restart, name="postgres-restart", daemon=True)
        thread.start()
        return thread
