"""Phase 1: analyze the photo set and plan each room's motion."""
