"""GUI tests (pytest-qt, offscreen; see tests/conftest.py)."""
