"""Is this txi2p installed alone, or mixed with another distribution's files?

``txi2p`` and ``txi2p-tahoe`` 0.3.x (what Tahoe-LAFS's and Foolscap's
``[i2p]`` extras name) both write the package ``txi2p``.  pip installs one
over the other file by file, and uninstalling one deletes the files both
wrote.  :func:`problems` says what is wrong, from the installed metadata:

* another distribution's ``RECORD`` lists files of the ``txi2p`` package
  (uninstalling it would delete them from under this txi2p);
* files of txi2p's own ``RECORD`` are missing, or their hashes differ
  (another distribution overwrote them).

Each problem names the distribution and version and the commands that fix
it.  ``import txi2p`` (after a first look at the directory it is installed
in for a ``txi2p-tahoe`` other than the transitional one, so that an
import pays for no metadata parsing) warns with :class:`MixedInstallWarning`, and so does a
Twisted plugin scan that loads ``twisted/plugins/txi2p_install_check.py``
when ``txi2p/__init__.py`` itself is another distribution's; ``txi2p
check`` prints them on its ``install:`` line, and the ``txi2p`` command
says them when it cannot even start.  Standard library only: it
runs on ``import txi2p``, which loads no Twisted.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.metadata is imported only when a check runs: see suspected()
    from importlib import metadata

__all__ = ["DISTRIBUTION", "MixedInstallWarning", "command", "fix_commands", "problems", "status",
           "suspected", "warn_if_mixed"]

#: This distribution's name.
DISTRIBUTION = "txi2p"

#: Distributions known to write the ``txi2p`` package (looked up by name,
#: which is cheap); any other one is found when a file's hash differs.
KNOWN_CLAIMANTS = ("txi2p-tahoe",)
_CLAIMANT_DIRS = {name.replace("-", "_") for name in KNOWN_CLAIMANTS}

_SHOWN = 4


class MixedInstallWarning(UserWarning):
    """txi2p's files are shared with, or were overwritten by, another distribution."""


def _ours(path: str) -> bool:
    """A file of the ``txi2p`` package or one of its Twisted plugins (*path* as a RECORD gives it)."""
    parts = path.split("/")
    if "__pycache__" in parts or path.endswith(".pyc"):
        return False
    return parts[0] == "txi2p" or (parts[:2] == ["twisted", "plugins"] and parts[-1].startswith("txi2p"))


def _digest(data: bytes, algorithm: str) -> str:
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=").decode("ascii")


def _changed(dist: metadata.Distribution) -> tuple[list[str], list[str]]:
    """(missing, overwritten) files of *dist*'s own RECORD."""
    missing: list[str] = []
    changed: list[str] = []
    for file in dist.files or ():
        path = str(file)
        if not _ours(path) or file.hash is None:
            continue
        try:
            data = file.locate().read_bytes()  # type: ignore[attr-defined]
        except FileNotFoundError:
            missing.append(str(path))
            continue
        except OSError:
            continue
        if _digest(data, file.hash.mode) != file.hash.value:
            changed.append(str(path))
    return missing, changed


def _claims(dist: metadata.Distribution) -> list[str]:
    return [str(f) for f in dist.files or () if _ours(str(f))]


def _name(dist: metadata.Distribution) -> str:
    return f"{dist.metadata['Name']} {dist.version}"


def _listing(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def fix_commands(version: str, others: Iterable[str]) -> str:
    """The commands that leave this txi2p alone, with the transitional txi2p-tahoe."""
    names = " ".join(sorted({*others, DISTRIBUTION}))
    return (f"pip uninstall -y {names} && pip install 'txi2p=={version}' 'txi2p-tahoe=={version}' "
            "(the txi2p-tahoe of that version has no code: it only requires txi2p; see "
            "'Switching from txi2p-tahoe' in txi2p's docs/migrating.rst)")


def _claimants(own: str | None) -> list[metadata.Distribution]:
    from importlib import metadata

    found = []
    for name in KNOWN_CLAIMANTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.metadata["Name"] != own and _claims(dist):
            found.append(dist)
    return found


def _all_claimants(own: str | None, paths: Iterable[str]) -> list[metadata.Distribution]:
    from importlib import metadata

    wanted = set(paths)
    return [dist for dist in metadata.distributions()
            if dist.metadata["Name"] != own and wanted & set(_claims(dist))]


def problems() -> list[str]:
    """What is wrong with how txi2p is installed, each with its fix; [] if nothing is."""
    from importlib import metadata

    try:
        own: metadata.Distribution | None = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        own = None  # run from a source tree
    version = own.version if own is not None else "<this version>"
    missing, changed = _changed(own) if own is not None else ([], [])
    others = {_name(d): d for d in _claimants(DISTRIBUTION)}
    if changed or missing:
        others.update({_name(d): d for d in _all_claimants(DISTRIBUTION, changed + missing)})
    names = [str(d.metadata["Name"]) for d in others.values()]
    by = f" by {', '.join(others)}" if others else " by another distribution"
    found = _damage(version, changed, missing, by) or _shared(version, others)
    if found:
        found.append("to fix: " + fix_commands(version, names))
    return found


def _damage(version: str, changed: list[str], missing: list[str], by: str) -> list[str]:
    """What was overwritten or deleted of txi2p's own files."""
    found: list[str] = []
    if changed:
        found.append(f"{len(changed)} of txi2p {version}'s files were overwritten{by} "
                     f"({_listing(changed)}): those modules are not txi2p's")
    if missing:
        found.append(f"{len(missing)} of txi2p {version}'s files are missing ({_listing(missing)}), "
                     "deleted by uninstalling another distribution that had written them too")
    return found


def _shared(version: str, others: dict[str, metadata.Distribution]) -> list[str]:
    """The other distributions whose RECORD claims txi2p's files (nothing damaged yet)."""
    found = []
    for name, dist in others.items():
        claimed = _claims(dist)
        found.append(f"{name} is installed too and its RECORD lists {len(claimed)} files of the "
                     f"txi2p package ({_listing(claimed)}): uninstalling it would delete them from "
                     f"under txi2p {version}")
    return found


def suspected(version: str) -> bool:
    """A first look that needs no metadata parsing (``import txi2p`` pays for no more):
    does a ``txi2p-tahoe`` other than the transitional one of *version* sit beside this package?"""
    try:
        names = os.listdir(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    except OSError:
        return False
    for name in names:
        stem, _, suffix = name.rpartition(".")
        dist, _, dist_version = stem.partition("-")
        if (suffix in ("dist-info", "egg-info") and dist.lower().replace("-", "_") in _CLAIMANT_DIRS
                and dist_version != version):
            return True
    return False


def warn_if_mixed(version: str | None = None) -> None:
    """Warn (:class:`MixedInstallWarning`) if :func:`problems` finds any.

    Given this txi2p's *version* (as ``import txi2p`` does), only when
    :func:`suspected` first sees a reason to look.
    """
    if version is not None and not suspected(version):
        return
    try:
        found = problems()
    except Exception:  # metadata that cannot be read must not stop an import, nor be called mixed
        return
    if found:
        warnings.warn("; ".join(found), MixedInstallWarning, stacklevel=3)


def status() -> str:
    """One line for ``txi2p check``: ``ok`` or the problems."""
    found = problems()
    return "; ".join(found) if found else "ok (no other distribution shares txi2p's files)"


def command() -> None:
    """The ``txi2p`` console script: :func:`txi2p.command.main`, or, when the
    installed modules are not txi2p's (so it cannot even be imported), why."""
    try:
        from txi2p.command import main
    except ImportError as e:
        import sys

        print(f"txi2p: cannot start ({e}); install: {status()}", file=sys.stderr)
        raise SystemExit(1) from None
    main()
