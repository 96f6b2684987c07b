"""Stand-ins for the reactor that unit tests of the blocking shim share."""

from __future__ import annotations


class QueuedCalls:
    """A reactor stand-in that keeps callFromThread calls for the test to run."""

    def __init__(self):
        self.calls = []

    def callFromThread(self, f, *args):
        self.calls.append((f, args))

    def run(self):
        calls, self.calls = self.calls, []
        for f, args in calls:
            f(*args)
