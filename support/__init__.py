"""Code the tests and the benchmarks share: ports, machine facts, the tour, test sites."""
