"""Shared test setup: Qt offscreen, quiet logs, small thread counts on the 2-core CI machines."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PONDER_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "ponder"))
# engines the tests start read every prompt (a document saved on disk by one test would be restored in another);
# tests/core/test_disk_cache.py turns it on where it is under test
os.environ.setdefault("PONDER_KV_DISK_CACHE_MIB", "0")
