"""A pytest plugin that runs txi2p-tahoe 0.3.7's own tests of its public API against this txi2p.

``scripts/peers.sh`` downloads the txi2p-tahoe 0.3.7 sdist from PyPI and
runs pytest on the test modules below, where the sdist unpacked them
(nothing is copied into this project), with ``-p peer_txi2p_tahoe
--txi2p-tahoe-tests=<sdist>`` and ``--import-mode=importlib`` (so that the
sdist's own ``txi2p`` and plugin file never come on ``sys.path``).  The modules import ``txi2p.test.util``
(their helpers, from the sdist) and ``txi2p.bob.endpoints`` (BOB, which
txi2p does not have): both are provided here, so that what runs is the
peer's test against this txi2p's ``txi2p`` package.

The tests that check 0.3.x's internals (the classes behind its sessions)
or its BOB API do not apply and are deselected, each with the reason in
:data:`NOT_APPLICABLE`; the five ``I2PAddress`` hash tests and three
others are strict expected failures, each with the reason in
:data:`EXPECTED_FAILURES`.  Everything else must pass.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

#: The peer's test modules this run takes, relative to the sdist's root.
MODULES = (
    "txi2p/test/test_address.py",
    "txi2p/test/test_plugins.py",
    "txi2p/sam/test/test_endpoints.py",
)

_ADDRESS = "txi2p/test/test_address.py::TestI2PAddress::"
_CLIENT_PLUGIN = "txi2p/test/test_plugins.py::I2PClientEndpointPluginTest::"
_SERVER_PLUGIN = "txi2p/test/test_plugins.py::I2PServerEndpointPluginTest::"
_CLIENT = "txi2p/sam/test/test_endpoints.py::SAMI2PStreamClientEndpointTestCase::"
_SERVER = "txi2p/sam/test/test_endpoints.py::SAMI2PStreamServerEndpointTestCase::"

_HASH = ("0.3.x's hash was hash((host, port)) while its equality compared destinations, so two "
         "equal addresses could hash differently; txi2p's hash agrees with its equality")

_CLASS = ("i2p: strings give txi2p's I2PClientEndpoint/I2PServerEndpoint, of which 0.3.x's "
          "SAMI2PStream*Endpoint names are subclasses (with .new()), not the other way round")
_EMPTY_HOST = ("the test passes host '' to .new(): 0.3.x looked at the host only after the SAM "
               "connection; txi2p refuses an empty host when the endpoint is made (ValueError), before "
               "any connection (the server-side test, with a key file name, passes)")

#: Peer tests that fail here on purpose, with why (strict: one that passes is reported).
EXPECTED_FAILURES = {
    **{_ADDRESS + name: _HASH for name in (
        "test_hashWithNoHostNoPort", "test_hashWithHostNoPort", "test_hashWithNoHostPort",
        "test_hashWithHostPort", "test_hashWithPortString")},
    _CLIENT_PLUGIN + "test_stringDescription_default": _CLASS,
    _SERVER_PLUGIN + "test_stringDescription_default": _CLASS,
    _CLIENT + "test_samConnectionFailed": _EMPTY_HOST,
}

_BOB = "the BOB API: deprecated, gone from current routers, refused by txi2p (api=BOB is a ValueError)"
_SESSION_FIELDS = ("0.3.x internals: the attributes of its endpoint and the keyword arguments of its "
                   "getSession() (ep._sessionDeferred.kwargs); txi2p's endpoints keep them in a SessionConfig")
_FACTORY = "0.3.x internals: the options attribute of its SessionCreateFactory, given to the SAM endpoint"
_PROTOCOL = ("0.3.x internals: an endpoint built from a hand-filled 0.3.x SAMSession (samVersion, id, "
             "_autoClose) that writes HELLO itself")

#: Peer tests of 0.3.x's internals or BOB: deselected, with why.
NOT_APPLICABLE = {
    _CLIENT_PLUGIN + "test_stringDescription_BOB": _BOB,
    _SERVER_PLUGIN + "test_stringDescription_BOB": _BOB,
    _CLIENT_PLUGIN + "test_stringDescription_SAM": _SESSION_FIELDS,
    _SERVER_PLUGIN + "test_stringDescription_SAM": _SESSION_FIELDS,
    _CLIENT + "test_newWithOptions": _FACTORY,
    _CLIENT + "test_newWithoutOptions": _FACTORY,
    _SERVER + "test_newWithOptions": _FACTORY,
    _SERVER + "test_newWithoutOptions": _FACTORY,
    _CLIENT + "test_streamConnect": _PROTOCOL,
    _SERVER + "test_streamListen": _PROTOCOL,
}


class _NoBOB:
    """txi2p has no BOB endpoints; the peer's test module imports these names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("txi2p does not support the BOB API")


def _package(name: str, path: Path | None = None, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [str(path)]
    module.__dict__.update(attributes)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
    return module


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--txi2p-tahoe-tests", metavar="DIR",
                     help="the unpacked txi2p-tahoe 0.3.7 sdist whose tests run against this txi2p")


def pytest_configure(config: pytest.Config) -> None:
    root = config.getoption("--txi2p-tahoe-tests")
    if not root:
        raise pytest.UsageError("--txi2p-tahoe-tests=DIR is needed (scripts/peers.sh gives it)")
    import txi2p
    import txi2p.sam  # the peer's modules import its submodules

    sdist = Path(root).resolve()
    if Path(txi2p.__file__).resolve().is_relative_to(sdist):
        raise pytest.UsageError(f"txi2p was imported from the peer's sdist ({txi2p.__file__}), not this txi2p")
    _package("txi2p.test", sdist / "txi2p" / "test")
    _package("txi2p.bob")
    _package("txi2p.bob.endpoints", None, BOBI2PClientEndpoint=_NoBOB, BOBI2PServerEndpoint=_NoBOB)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        if item.nodeid in NOT_APPLICABLE:
            dropped.append(item)
            continue
        why = EXPECTED_FAILURES.get(item.nodeid)
        if why is not None:
            item.add_marker(pytest.mark.xfail(reason=why, strict=True))
        kept.append(item)
    missing = set(NOT_APPLICABLE) - {i.nodeid for i in dropped}
    missing |= set(EXPECTED_FAILURES) - {i.nodeid for i in kept}
    if missing and not (config.option.keyword or config.option.markexpr):  # a -k/-m run takes a part
        raise pytest.UsageError(f"peer tests named here were not collected: {sorted(missing)}")
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def pytest_report_header(config: pytest.Config) -> list[str]:
    import txi2p

    return [f"peer: txi2p-tahoe 0.3.7's tests ({', '.join(MODULES)}) against txi2p {txi2p.__version__} "
            f"at {Path(txi2p.__file__).parent}",
            f"deselected as not applicable: {len(NOT_APPLICABLE)}; expected failures: {len(EXPECTED_FAILURES)}"]
