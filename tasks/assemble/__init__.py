"""Phase 4: render a timeline version into the final mp4 with ffmpeg (the timeline is the only input)."""
