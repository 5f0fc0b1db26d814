"""What can go wrong in assembly, each naming what the user has to fix."""

from __future__ import annotations


class AssembleError(RuntimeError):
    """The timeline cannot be rendered; the message names the clip (and ffmpeg's error lines)."""

    def __init__(self, message: str, ffmpeg_lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.ffmpeg_lines = ffmpeg_lines or []


class TimelineError(AssembleError):
    """The timeline rows contradict themselves (start times, trims and transitions disagree)."""


class SourceError(AssembleError):
    """A clip or the music is missing, unreadable, or shorter than its trim."""
