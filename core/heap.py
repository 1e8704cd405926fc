"""Hand memory a finished burst of work has freed back to the system (glibc; elsewhere nothing to do).

The tokenizer's batch calls (Rust, through the C allocator) free what they allocated, but glibc's malloc
keeps the freed pages in its heaps, pinned there by the longer-lived allocations made between the calls: a
16 MB document counted in a few hundred batches leaves the process about 100 MB larger than it needs to be.
``release_free_memory`` calls ``malloc_trim(0)`` where the C library is glibc, which returns every free page
of every heap (a millisecond or two: ``release_after_work`` calls it once per MiB of text counted);
elsewhere (macOS, Windows, musl) it does nothing: those allocators return memory by themselves or offer no
such call.

``return_large_blocks_at_once`` (the window calls it at start) fixes glibc's threshold for serving an
allocation from its own mapping at 256 KiB. By default the threshold rises to the size of the largest block
freed (up to 32 MiB), so after a document's text has been copied once, every array and string below that
size comes from the heap, where freeing it leaves holes the process keeps: building a 16 MB document's
indexes then costs 60 MB more than it holds. The engine does not call it: its tensors come and go at every
step, and a fresh mapping each time would cost page faults on the hot path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

MMAP_THRESHOLD_BYTES = 256 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):  # musl has neither call
        return None
    return libc


def release_free_memory() -> bool:
    """Return the C heaps' free pages to the system; whether that was possible here."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


_worked = 0  # characters tokenized since the heaps were last trimmed (a race only shifts a trim)


def release_after_work(characters: int, every: int = 2**20) -> None:
    """``release_free_memory`` once per ``every`` characters of text worked through (the tokenizer's batches):
    a trim costs a millisecond or two, so after each small batch it would slow counting by a fifth."""
    global _worked
    _worked += characters
    if _worked >= every:
        _worked = 0
        release_free_memory()


def return_large_blocks_at_once(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve every allocation of ``threshold_bytes`` or more from its own mapping, returned when freed."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes))
