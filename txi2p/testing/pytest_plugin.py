"""pytest fixtures for a private I2P network of real i2pd routers.

Enable in a ``conftest.py``::

    pytest_plugins = ["txi2p.testing.pytest_plugin"]

Fixtures (session scope; they need pytest-twisted with its default
greenlet mode, and root or unprivileged user namespaces):

``i2p_network``
    a running :class:`~txi2p.testing.network.PrivateI2PNetwork` that has
    carried a stream round trip.  Client routers' SAM addresses are
    ``i2p_network.sam_addresses``.
``i2p_sessions``
    the two STREAM sessions (one per client router) the readiness probe
    used: ready to connect to each other at once.

Tests marked ``integration`` that use them skip with a reason where i2pd
or namespaces are missing; under ``CI=true`` such a skip is a failure.
When a test that used the network fails, the routers' log tails are added
to its report.

Options: ``--i2p-routers=N`` (client routers, default 3),
``--i2p-keep`` (leave the network's files in place for inspection).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from txi2p.session import SAMSession
from txi2p.testing.namespace import NamespaceUnavailable
from txi2p.testing.network import NetworkStartError, PrivateI2PNetwork, find_i2pd


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("txi2p", "private I2P network")
    group.addoption("--i2p-routers", type=int, default=3,
                    help="client routers (each with a SAM bridge) in the test network")
    group.addoption("--i2p-keep", action="store_true",
                    help="keep the test network's data dirs and logs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs a private I2P network of real i2pd routers")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and item.get_closest_marker("integration") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under CI=true, which is a failure: {reason}"
    if report.failed and call.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        network = funcargs.get("i2p_network")
        if isinstance(network, PrivateI2PNetwork):
            report.sections.append(("i2pd router logs", network.logs(40)))


def _say(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[txi2p.testing] {text}")
    else:
        reporter.write_line(f"[txi2p.testing] {text}")


@pytest.fixture(scope="session")
def i2p_network_and_sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PrivateI2PNetwork, list[SAMSession]]]:
    import pytest_twisted
    from twisted.internet import defer, reactor

    from txi2p.testing.ready import wait_until_ready

    config = request.config
    if find_i2pd() is None:
        pytest.skip("i2pd is not installed (apt-get install i2pd, or set $I2PD)")
    directory = tmp_path_factory.mktemp("i2pnet")
    network = PrivateI2PNetwork(
        directory, clients=config.getoption("--i2p-routers"),
        progress=lambda text: _say(config, text))
    try:
        network.start()
    except NamespaceUnavailable as e:
        pytest.skip(f"cannot make a private network namespace here: {e}")
    except NetworkStartError:
        network.stop()
        raise
    sessions: list[SAMSession] = []
    try:
        sessions = pytest_twisted.blockon(defer.Deferred.fromCoroutine(
            wait_until_ready(reactor, network, progress=lambda text: _say(config, text))))
        yield network, sessions
    except BaseException as e:
        if not isinstance(e, (GeneratorExit, pytest.skip.Exception)):
            _say(config, f"the test network failed: {e}\n{network.logs()}")
        raise
    finally:
        for session in sessions:
            session.close()
        network.stop()
        if not config.getoption("--i2p-keep"):
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def i2p_network(i2p_network_and_sessions: tuple[PrivateI2PNetwork, Any]) -> PrivateI2PNetwork:
    """A running private I2P network that has carried a round trip."""
    return i2p_network_and_sessions[0]


@pytest.fixture(scope="session")
def i2p_sessions(i2p_network_and_sessions: tuple[Any, list[SAMSession]]) -> list[SAMSession]:
    """Ready STREAM sessions, one per client router, reachable from each other."""
    return i2p_network_and_sessions[1]
