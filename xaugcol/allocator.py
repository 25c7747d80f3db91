"""The C allocator's settings for training and explaining: freed tensor memory is reused, not returned.

glibc serves a large request with a fresh memory map and returns it when freed; its threshold for that adapts, and
freed heap above 128 KiB is given back to the system. A tagger's forward and LRP passes allocate and free tensors
of a few MiB at every layer, so the kernel maps and zeroes the same memory again and again: on the Interaction
Network's explanation that system time was larger than the arithmetic (``benchmarks/bench_interpretation.py``,
system / user 1.5 before, 0.01 after). ``reuse_freed_memory`` fixes the map threshold at 32 MiB (glibc's largest)
and keeps up to 512 MiB of freed heap for reuse. It changes where memory comes from, never what is computed; a
process's peak memory is unchanged, its resident size after a pass can stay higher by the heap it keeps.

Called where tagger passes start (training a member, the relevance processor, the command line); a no-op where
the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 512 << 20


@functools.cache
def reuse_freed_memory() -> bool:
    """Apply the settings to this process (once); True where they took effect.

    Returns
    -------
    bool
        True where both ``mallopt`` calls succeeded; False where the C library has no ``mallopt`` (not glibc) or
        refused a setting. Cached: later calls return the first call's answer without calling ``mallopt`` again.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt): the system's defaults stay
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
