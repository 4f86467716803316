"""A model the in-process benchmarks' receivers write to (``benchmarks.settings``)."""
