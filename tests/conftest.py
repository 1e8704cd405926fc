"""Shared test setup: Qt offscreen, quiet logs, small thread counts on the 2-core CI machines."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PONDER_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "ponder"))
