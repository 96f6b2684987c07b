"""Enter a private Linux network namespace for a test I2P network.

i2pd refuses router-to-router connections from loopback and private
ranges, but not from 198.18.0.0/15.  Those addresses must never appear on
a real network, so the routers (and the process that talks to their SAM
bridges) live in a fresh network namespace that has nothing but ``lo``.

:func:`enter_private_namespace` moves the *calling process* into such a
namespace.  Call it before any thread that must reach the routers starts:
threads that already exist stay in the old namespace.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import subprocess
from collections.abc import Iterable

__all__ = ["NamespaceUnavailable", "addresses_on_loopback", "enter_private_namespace"]

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000

#: The benchmark range i2pd does not treat as reserved (RFC 2544).
TESTNET_PREFIX = "198.18.0."


class NamespaceUnavailable(RuntimeError):
    """This process cannot make a private network namespace here."""


def addresses_on_loopback() -> set[str]:
    """The IPv4 addresses currently assigned to ``lo`` in this namespace."""
    ip = shutil.which("ip")
    if ip is None:
        raise NamespaceUnavailable("the 'ip' command (iproute2) is not installed")
    out = subprocess.run(
        [ip, "-o", "-4", "addr", "show", "dev", "lo"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            found.add(parts[parts.index("inet") + 1].split("/")[0])
    return found


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _new_namespace() -> None:
    if os.geteuid() == 0:
        try:
            _unshare(_CLONE_NEWNET)
            return
        except OSError as e:
            raise NamespaceUnavailable(
                f"unshare(CLONE_NEWNET) failed as root: {e.strerror}"
            ) from e
    uid, gid = os.geteuid(), os.getegid()
    try:
        _unshare(_CLONE_NEWUSER | _CLONE_NEWNET)
    except OSError as e:
        hint = " (the process has threads already)" if e.errno == errno.EINVAL else ""
        raise NamespaceUnavailable(
            "not root, and unprivileged user+network namespaces are not "
            f"available: {e.strerror}{hint}"
        ) from e
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")


def enter_private_namespace(addresses: Iterable[str], *, fresh: bool = False) -> bool:
    """Make sure this process runs in a private namespace holding *addresses*.

    If ``lo`` already carries every address (a previous call, or a
    namespace made by the caller), nothing changes.  Otherwise the process
    moves into a fresh network namespace, brings ``lo`` up and assigns the
    addresses to it.  Every address must be in 198.18.0.0/24.

    *fresh*: always move into a new namespace, even from one that holds
    test addresses already (a second network beside the one this process
    is in: nested namespaces work as root and in a user namespace).

    Returns True when a new namespace was created.
    Raises :class:`NamespaceUnavailable` with the reason when it cannot.
    """
    wanted = list(addresses)
    for address in wanted:
        if not address.startswith(TESTNET_PREFIX):
            raise ValueError(f"{address!r} is not a 198.18.0.x test address")
    present = addresses_on_loopback()
    if set(wanted) <= present and not fresh:
        return False
    created = fresh or not any(a.startswith(TESTNET_PREFIX) for a in present)
    if created:
        # Never put test addresses on a namespace we did not make.
        _new_namespace()
    ip = shutil.which("ip") or "ip"
    subprocess.run([ip, "link", "set", "lo", "up"], check=True)
    for address in wanted:
        if address not in addresses_on_loopback():
            subprocess.run(
                [ip, "addr", "add", f"{address}/32", "dev", "lo"], check=True
            )
    return created
