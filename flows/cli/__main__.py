"""`python -m flows.cli`: the same as the `picaivid` script."""

from flows.cli import app

app(prog_name="picaivid")
