"""The garbage collector paused over a block of work that makes many long-lived objects.

A large index (or the checked knowledge it is built from) is hundreds of thousands of
objects; a collector pass over them while they are being made, or soon after as young
objects, holds the GIL long enough to stall the bot's event loop. Objects frozen before
the collector is back are never walked again (``gc.freeze``): right only for objects
free of reference cycles, which reference counting frees once they are replaced.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused(*, freeze: bool = False) -> Iterator[None]:
    """No collection during the block; with ``freeze``, everything alive is frozen
    before the collector is back (also when the block fails). Nests: an inner pause
    leaves the collector off for the outer one."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()  # before the collector is back: it must never see them as young
        if enabled:
            gc.enable()
