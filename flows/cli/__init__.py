"""`picaivid`: the command line. Every command takes --json for machines."""

from __future__ import annotations

from flows.cli.app import app

__all__ = ["app"]
