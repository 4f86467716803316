"""From one fire to every receiver: bridge, dispatch, timeouts and settings wiring."""
