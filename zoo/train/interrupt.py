"""Ctrl-C and SIGTERM during training: finish the batch, write a checkpoint, then stop."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["InterruptGuard"]


class InterruptGuard:
    """Defers SIGINT and SIGTERM to the trainer's next safe point (a batch boundary).

    The first signal only sets :attr:`requested`; the trainer then writes a
    checkpoint and stops. A second SIGINT raises ``KeyboardInterrupt`` at once.
    Outside the main thread (where Python allows no handlers) it does nothing.

    :param quiet: say nothing when a signal arrives (the other processes of a distributed run).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        if not self.quiet:
            print(
                f"\n{self.requested} received: stopping after this batch and writing a checkpoint "
                "(press Ctrl-C again to stop at once)",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
