"""Run a command that must not outlive the process that started it.

``python child_guard.py PARENT_PID COMMAND [ARG ...]`` (run as a file: it imports
nothing outside the standard library) asks the
kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, Linux) to kill this process
when its parent dies, checks that the parent is still *PARENT_PID* (it
may have died before the request was made), then replaces itself with
*COMMAND*.  The request survives ``exec``, so the command itself (an
i2pd router) is killed with its parent, even a parent killed by SIGKILL.

The kernel sends the signal when the *thread* that started the child
ends: start routers from the thread that runs the reactor.

Elsewhere than Linux the command runs unguarded (it is still stopped at
reactor shutdown and by :meth:`txi2p.i2p.I2P.quit`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence

__all__ = ["guarded_command", "main"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> bool:
    """Ask for SIGKILL when the parent dies; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)


def guarded_command(command: Sequence[str], parent_pid: int | None = None) -> list[str]:
    """*command*, run through this guard for the process *parent_pid* (default: this one)."""
    pid = os.getpid() if parent_pid is None else parent_pid
    # -I: isolated, so the directory of this file (txi2p/, which has a socket
    # package) is not put on sys.path
    return [sys.executable, "-I", os.path.abspath(__file__), str(pid), *command]


def main(argv: Sequence[str]) -> None:
    if len(argv) < 2 or not argv[0].isdigit():
        sys.exit("usage: python -I child_guard.py PARENT_PID COMMAND [ARG ...]")
    _die_with_parent()
    if os.getppid() != int(argv[0]):
        sys.exit(f"txi2p.child_guard: the parent {argv[0]} is gone; not starting {argv[1]}")
    os.execvp(argv[1], list(argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
