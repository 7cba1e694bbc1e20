"""Inference components: what the API, the router and the supervisor side share (a Specification's limits, the
published capacity, the wake signals, the wake counters). The supervisor side itself is runtime.copies."""
