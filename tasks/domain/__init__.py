"""Rules that cross phases: each lives in one module here."""
