"""The reactor thread the blocking calls run on, shared by the whole process."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python import threadable
from twisted.python.failure import Failure

from txi2p.registry import SessionRegistry
from txi2p.socket.errors import Error, Timeout


class _ShimContext:
    """Everything the shim shares in one process: kept on the reactor object."""

    ATTRIBUTE = "_txi2p_socket_shim"

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.registry = SessionRegistry.for_reactor(reactor)
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    @classmethod
    def get(cls) -> _ShimContext:
        from twisted.internet import reactor

        context = getattr(reactor, cls.ATTRIBUTE, None)
        if context is None:
            context = cls(reactor)
            setattr(reactor, cls.ATTRIBUTE, context)
        context.ensure_running()
        return context

    def ensure_running(self) -> None:
        if threadable.isInIOThread():
            raise Error("a blocking txi2p.socket call was made in the reactor thread, where it would "
                        "deadlock; use txi2p's Twisted API there (endpoints, SAMSession)")
        with self.lock:
            if self.reactor.running or (self.thread is not None and self.thread.is_alive()):
                return
            started = threading.Event()
            self.reactor.callWhenRunning(started.set)
            self.thread = threading.Thread(
                target=self.reactor.run, kwargs={"installSignalHandlers": False},
                name="txi2p-reactor", daemon=True)
            self.thread.start()
            atexit.register(self._stop)
        started.wait(10)

    def _stop(self) -> None:
        if self.thread is not None and self.thread.is_alive() and self.reactor.running:
            self.reactor.callFromThread(self.reactor.stop)
            self.thread.join(5)

    def call(self, make: Callable[[], Coroutine[Any, Any, Any] | Deferred[Any] | Any],
             timeout: float | None = None, what: str = "the call") -> Any:
        """Run *make* in the reactor thread; block for its result (or raise Timeout)."""
        done = threading.Event()
        box: list[Any] = []
        holder: list[Deferred[Any]] = []

        def start() -> None:
            try:
                result = make()
                d = Deferred.fromCoroutine(result) if isinstance(result, Coroutine) else result
                if not isinstance(d, Deferred):
                    box.append((True, d))
                    done.set()
                    return
            except BaseException as e:
                box.append((False, e))
                done.set()
                return
            holder.append(d)

            def finish(result: Any) -> None:
                if isinstance(result, Failure):
                    box.append((False, result.value))
                else:
                    box.append((True, result))
                done.set()

            d.addBoth(finish)

        self.reactor.callFromThread(start)
        if not done.wait(timeout):
            def cancel() -> None:
                if holder:
                    holder[0].cancel()

            self.reactor.callFromThread(cancel)
            done.wait(5)
            if not box or not box[0][0]:
                raise Timeout(f"{what} did not complete within {timeout:g} s")
        ok, value = box[0]
        if not ok:
            raise value
        return value
