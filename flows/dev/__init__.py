"""Developer tools, not on the production path: the procedurally made sample listing the demo
command, the tests and the benchmarks use."""
