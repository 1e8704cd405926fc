"""The interface between Ponder's processes, torch-free: the window, the command line and the engine all use it.

``protocol`` is the wire format of the engine's HTTP API (pydantic: the server builds its responses from it,
``core.client`` parses them); ``spawn`` starts an engine process and reads its handshake; ``bench_spec`` and
``bench_report`` are what a benchmark run measures and how its result reads.
"""
