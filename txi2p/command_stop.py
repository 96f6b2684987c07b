"""How the ``txi2p`` command's long-running subcommands (``serve``,
``testnet``) learn they should stop: reactor shutdown or the caller's
Deferred (:class:`Until`), and the stop signals while a step blocks.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

__all__ = ["STOP_SIGNALS", "CommandError", "Stopped", "Until", "sigint_ignored", "signals_interrupt"]


class CommandError(Exception):
    """A subcommand cannot go on; the message says why and what to check."""


class Stopped(Exception):
    """The command was stopped (Ctrl-C, SIGTERM) while it waited."""


class Until:
    """When a subcommand that runs until stopped should stop.

    Without a *stop* Deferred of the caller's, that is reactor shutdown,
    which then waits for :meth:`done` (the command has cleaned up).
    """

    def __init__(self, reactor: Any, stop: Deferred[None] | None) -> None:
        self._reactor = reactor
        self._finished: Deferred[None] = Deferred()
        self._trigger: Any = None
        if stop is None:
            stop = Deferred()
            self._trigger = reactor.addSystemEventTrigger("before", "shutdown", self._shutdown)
        self._stop = stop

    def _shutdown(self) -> Deferred[None]:
        self._trigger = None
        if not self._stop.called:
            self._stop.callback(None)
        return self._finished

    @property
    def stopped(self) -> bool:
        return self._stop.called

    def until(self, work: Deferred[Any]) -> Deferred[Any]:
        """*work*'s result; :class:`Stopped` (and *work* cancelled) if stopped first."""
        result: Deferred[Any] = Deferred()

        def finished(value: Any) -> None:
            if not result.called:
                (result.errback if isinstance(value, Failure) else result.callback)(value)

        def stopped(value: Any) -> Any:
            if not result.called:
                result.errback(Stopped())
                work.cancel()
            return value

        work.addBoth(finished)
        self._stop.addBoth(stopped)
        return result

    async def wait(self) -> None:
        """Return once stopped."""
        with contextlib.suppress(Stopped):
            await self.until(Deferred())

    def done(self) -> None:
        """The command has finished: let reactor shutdown go on."""
        if self._trigger is not None:
            self._reactor.removeSystemEventTrigger(self._trigger)
            self._trigger = None
        if not self._finished.called:
            self._finished.callback(None)


#: What stops a command that runs until stopped (SIGHUP: its terminal closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """The stop signals raise KeyboardInterrupt here (a blocking step, even
    while the reactor runs with its own handlers); ignored ones stay so."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in STOP_SIGNALS
                if signal.getsignal(number) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ctrl-C reaches the child (the terminal sends it to both); we go on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
