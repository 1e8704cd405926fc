"""The engine process's local HTTP API: an OpenAI-compatible server on 127.0.0.1 (FastAPI + uvicorn).

Light on import: ``protocol`` (pydantic only) is shared with ``core.client`` and the GUI; the modules that
need torch (``serving``, ``app``, ``runner``) are imported only by the engine process.
"""
