"""A pydantic ValidationError as the one-line reason bad input gets (its first error, where and what)."""

from __future__ import annotations

from pydantic import ValidationError


def one_line(err: ValidationError, subject: str, join: str = ": ") -> str:
    """`subject{join}where: msg` for the first error (`subject: msg` when it has no location), so every
    parser names the offending field the same way."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{subject}{join}{where}: {first['msg']}" if where else f"{subject}: {first['msg']}"
