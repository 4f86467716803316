"""The Django projects the benchmarks run: the in-process one's model, and the servers' settings."""
