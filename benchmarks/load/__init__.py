"""The load test: the testproject under uvicorn, with and without the bridge (docs/load-test.md)."""
