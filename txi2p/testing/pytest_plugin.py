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
to its report.  A network that starts but carries no stream round trip is
replaced by a new one once (``NETWORK_ATTEMPTS``).

Options: ``--i2p-routers=N`` (client routers, default 3),
``--i2p-keep`` (leave the network's files in place for inspection),
``--i2p-test-timeout=SECONDS`` (default 600, env ``TXI2P_TEST_TIMEOUT``):
an ``integration`` test that runs on the reactor and has not finished by
then is cancelled and fails, showing where it was waiting; the tests after
it still run.

Which routers: by default every router is the i2pd on ``$PATH`` (or
``$I2PD``).  To test against other builds, or a mix of them, name each
router (see :class:`~txi2p.testing.network.RouterBuild`)::

    pytest --i2p-client=i2pd:/opt/i2pd-2.58/i2pd --i2p-client=java:/opt/i2p/lib \
           --i2p-client=/usr/sbin/i2pd --i2p-floodfill=/opt/i2pd-2.58/i2pd

or, the same, ``TXI2P_CLIENTS=spec,spec,...`` and ``TXI2P_FLOODFILLS=...``
in the environment.  The first two client routers carry most tests'
session pairs.  A network with a Java router needs ``TXI2P_TEST_HOPS=1``
(its 0-hop sessions cannot look up remote lease sets) and i2pd 2.5x
floodfills (Java refuses older peers as floodfills and hops).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from txi2p.session import SAMSession
from txi2p.testing.namespace import NamespaceUnavailable
from txi2p.testing.network import NetworkStartError, PrivateI2PNetwork, RouterBuild, find_i2pd

DEFAULT_TEST_TIMEOUT = 600.0
#: How many networks the fixture starts before giving up on one that carries
#: no stream round trip.
NETWORK_ATTEMPTS = 2


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("txi2p", "private I2P network")
    group.addoption("--i2p-routers", type=int, default=3,
                    help="client routers (each with a SAM bridge) in the test network")
    group.addoption("--i2p-keep", action="store_true",
                    help="keep the test network's data dirs and logs")
    group.addoption("--i2p-client", action="append", default=None, metavar="SPEC",
                    help="a client router: i2pd:PATH, java:JAR_DIR or an i2pd path (repeat; "
                         "overrides --i2p-routers; env TXI2P_CLIENTS)")
    group.addoption("--i2p-test-timeout", type=float, default=None, metavar="SECONDS",
                    help="cancel an integration test still running after SECONDS and fail it "
                         f"(default {DEFAULT_TEST_TIMEOUT:.0f}; env TXI2P_TEST_TIMEOUT)")
    group.addoption("--i2p-floodfill", action="append", default=None, metavar="SPEC",
                    help="a floodfill router (i2pd; repeat; env TXI2P_FLOODFILLS)")


def network_builds(config: pytest.Config) -> tuple[Any, Any]:
    """The client and floodfill routers the options and environment ask for."""
    clients: Any = config.getoption("--i2p-client") or os.environ.get("TXI2P_CLIENTS")
    floodfills: Any = config.getoption("--i2p-floodfill") or os.environ.get("TXI2P_FLOODFILLS")
    clients = (RouterBuild.parse_list(clients) if isinstance(clients, str)
               else [RouterBuild.parse(c) for c in clients] if clients
               else config.getoption("--i2p-routers"))
    floodfills = (RouterBuild.parse_list(floodfills) if isinstance(floodfills, str)
                  else [RouterBuild.parse(f) for f in floodfills] if floodfills else 2)
    return clients, floodfills


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs a private I2P network of real i2pd routers")
    config.addinivalue_line(
        "markers", "load: heavy load on the routers; runs after every other test")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move ``load`` tests to the end (in their order): heavy load is where
    a router is likeliest to fail, which must not take other tests with it."""
    items.sort(key=lambda item: item.get_closest_marker("load") is not None)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and item.get_closest_marker("integration") is not None:
        _skip_fails(report, "integration test skipped")
    if report.failed and call.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        network = funcargs.get("i2p_network")
        if isinstance(network, PrivateI2PNetwork):
            report.sections.append(("i2pd router logs", network.logs(40)))


def integration_test_timeout(config: pytest.Config) -> float:
    """Seconds an integration test may run on the reactor before it is cancelled."""
    value = config.getoption("--i2p-test-timeout")
    if value is None:
        value = float(os.environ.get("TXI2P_TEST_TIMEOUT") or DEFAULT_TEST_TIMEOUT)
    return float(value)


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[None]:
    """Bound an ``integration`` test that returns a coroutine or Deferred.

    A router that never answers what a test awaits would otherwise hold the
    whole run until pytest-timeout ends the process (and every later test
    with it).  The test's Deferred is cancelled instead, which raises
    ``CancelledError`` where the test was waiting; the failure shows that
    traceback.
    """
    if pyfuncitem.get_closest_marker("integration") is None:
        yield
        return
    from twisted.internet import defer, reactor
    from twisted.python.failure import Failure

    limit = integration_test_timeout(pyfuncitem.config)
    original = pyfuncitem.obj

    def bounded(**kwargs: Any) -> Any:
        result = original(**kwargs)
        if not isinstance(result, (defer.Deferred, Coroutine)):
            return result
        d = defer.ensureDeferred(result)

        def timed_out(result: Any, timeout: float) -> None:
            where = result.getTraceback() if isinstance(result, Failure) else repr(result)
            raise pytest.fail.Exception(
                f"the test had not finished after {timeout:g} s (--i2p-test-timeout) and was "
                f"cancelled where it waited:\n{where}")

        return d.addTimeout(limit, reactor, onTimeoutCancel=timed_out)

    pyfuncitem.obj = bounded
    try:
        yield
    finally:
        pyfuncitem.obj = original


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """Under CI, a test module skipped whole (a module-level ``importorskip``
    or ``skip``) fails: its integration tests would otherwise vanish unseen."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and isinstance(collector, pytest.Module):
        _skip_fails(report, "test module skipped whole")


def _skip_fails(report: Any, what: str) -> None:
    """Turn a skip *report* into a failure that keeps the skip's reason."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
    report.outcome = "failed"
    report.longrepr = f"{what} under CI=true, which is a failure: {reason}"


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

    from txi2p.testing.ready import NetworkNotReady, testnet_hops, wait_until_ready

    config = request.config
    clients, floodfills = network_builds(config)
    named = isinstance(clients, list) and isinstance(floodfills, list)
    if find_i2pd() is None and not named:
        pytest.skip("i2pd is not installed (apt-get install i2pd, or set $I2PD)")
    for attempt in range(1, NETWORK_ATTEMPTS + 1):
        directory = tmp_path_factory.mktemp("i2pnet")
        network = PrivateI2PNetwork(
            directory, clients=clients, floodfills=floodfills,
            progress=lambda text: _say(config, text))
        if network.has_java and testnet_hops() == 0:
            raise NetworkStartError(
                "the test network has a Java I2P router: set TXI2P_TEST_HOPS=1 (its 0-hop sessions "
                "cannot look up remote lease sets)")
        try:
            network.start()
            _say(config, "routers:\n" + network.describe())
        except NamespaceUnavailable as e:
            pytest.skip(f"cannot make a private network namespace here: {e}")
        except NetworkStartError:
            network.stop()
            raise
        sessions: list[SAMSession] = []
        try:
            sessions = pytest_twisted.blockon(defer.Deferred.fromCoroutine(
                wait_until_ready(reactor, network, progress=lambda text: _say(config, text))))
        except BaseException as e:
            if isinstance(e, NetworkNotReady) and attempt < NETWORK_ATTEMPTS:
                # The routers came up but carried nothing: a network that breaks so
                # (i2pd 2.45.1 did, now and then) is replaced, once, by a new one.
                _say(config, f"the test network carried no round trip ({e}); its routers' logs:\n"
                             f"{network.logs()}\nstarting a new network "
                             f"(attempt {attempt + 1} of {NETWORK_ATTEMPTS})")
                _end(config, network, directory)
                continue
            if not isinstance(e, (GeneratorExit, pytest.skip.Exception)):
                _say(config, f"the test network failed: {e}\n{network.logs()}")
            _end(config, network, directory)
            raise
        break
    try:
        yield network, sessions
    finally:
        for session in sessions:
            session.close()
        _end(config, network, directory)


def _end(config: pytest.Config, network: PrivateI2PNetwork, directory: Any) -> None:
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
