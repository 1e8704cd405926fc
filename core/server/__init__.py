"""The engine process's local HTTP API: an OpenAI-compatible server on 127.0.0.1 (FastAPI + uvicorn).

Engine side: the window never imports anything here (it speaks to the server over HTTP through
``core.client``; the wire types both use are ``core.api.protocol``). ``settings`` stays light on import so
the ``ponder`` parser can build ``serve``'s arguments without torch.
"""
