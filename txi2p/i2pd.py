"""The one way txi2p starts an i2pd router: its configuration, its process, its stages.

:func:`txi2p.launch` and :mod:`txi2p.testing` both start routers with
what is here:

* :func:`router_settings` and :func:`apply_options` build a
  configuration (sections of i2pd's own option names), which
  :func:`render_config` writes as ``i2pd.conf``;
* :func:`prepare_data_directory` makes the files and directories i2pd
  expects in a data directory of its own;
* :func:`router_command` is the command line, run through
  :mod:`txi2p.child_guard` so the router never outlives this process;
* :class:`StageTracker` reads the router's log and says which stage of
  its start it has reached (:data:`STAGES`);
* :class:`I2pdRouter` runs one router under the reactor until it is ready,
  and stops it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from txi2p.child_guard import guarded_command
from txi2p.errors import TxI2PError

__all__ = [
    "INSTALL_HINT",
    "LOG_FACTS",
    "STAGES",
    "STOP_GRACE",
    "DataDirectoryInUse",
    "I2pdNotFound",
    "I2pdRouter",
    "ProgressUpdates",
    "RouterFailed",
    "Settings",
    "Stage",
    "StageTracker",
    "apply_options",
    "find_i2pd_binary",
    "follow",
    "free_sam_port",
    "installed_certificates",
    "prepare_data_directory",
    "render_config",
    "router_command",
    "router_settings",
]

_log = Logger()

#: ``{section: {option: value}}``; section ``""`` holds the top-level options.
Settings = dict[str, dict[str, str]]

#: txtorcon's signature: ``progress_updates(percent, tag, summary)``.
ProgressUpdates = Callable[[int, str, str], object]

#: How long a stopping router gets after SIGTERM before SIGKILL (i2pd
#: 2.45.1 often needs 10 s or more to exit on SIGTERM).
STOP_GRACE = 5.0

INSTALL_HINT = ("install i2pd (Debian/Ubuntu: apt-get install i2pd; other systems: "
                "https://i2pd.readthedocs.io/en/latest/user-guide/install/), or pass i2pd_binary=")


class I2pdNotFound(TxI2PError, FileNotFoundError):
    """No i2pd binary to launch; the message says how to install one."""


class RouterFailed(TxI2PError):
    """A launched router exited, or did not get ready in time.

    :ivar stage: the tag of the last stage it reached (:data:`STAGES`).
    :ivar log_tail: the last lines of its log (and of its output).
    """

    def __init__(self, message: str, stage: str = "", log_tail: str = "") -> None:
        super().__init__(f"{message} (last stage reached: {stage or 'none'})\n"
                         f"----- i2pd log tail -----\n{log_tail}")
        self.stage = stage
        self.log_tail = log_tail


class DataDirectoryInUse(TxI2PError):
    """Another router runs on the data directory asked for."""


# ------------------------------------------------------------- configuration


def find_i2pd_binary(given: str | os.PathLike[str] | None = None) -> str:
    """The i2pd to run: *given*, else ``i2pd`` on ``$PATH`` (or ``/usr/sbin/i2pd``).

    Raises :class:`I2pdNotFound` saying how to install it.
    """
    if given is not None:
        path = shutil.which(os.fspath(given)) or os.fspath(given)
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            raise I2pdNotFound(f"i2pd binary {os.fspath(given)!r} is missing or not executable: {INSTALL_HINT}")
        return os.path.abspath(path)
    found = shutil.which("i2pd") or shutil.which("i2pd", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise I2pdNotFound(f"i2pd was not found on $PATH: {INSTALL_HINT}")
    return os.path.abspath(found)


def router_settings(data_directory: Path, sam_port: int | None) -> Settings:
    """What every router txi2p starts runs with: logs at ``info`` in the data
    directory (the stages are read from them), SAM on loopback at *sam_port*
    (None: no SAM bridge), no floodfill, and everything else a library user
    does not need (web console, proxies, BOB, I2CP, I2PControl, UPnP) off.
    """
    sam = ({"enabled": "true", "address": "127.0.0.1", "port": str(sam_port)}
           if sam_port is not None else {"enabled": "false"})
    return {
        "": {
            "log": "file",
            "logfile": str(data_directory / "i2pd.log"),
            "loglevel": "info",
            "daemon": "false",
            "service": "false",
            "floodfill": "false",
            "ipv4": "true",
            "tunconf": str(data_directory / "tunnels.conf"),
            "tunnelsdir": str(data_directory / "tunnels.d"),
            "pidfile": str(data_directory / "i2pd.pid"),
        },
        "http": {"enabled": "false"},
        "httpproxy": {"enabled": "false"},
        "socksproxy": {"enabled": "false"},
        "sam": sam,
        "bob": {"enabled": "false"},
        "i2cp": {"enabled": "false"},
        "i2pcontrol": {"enabled": "false"},
        "upnp": {"enabled": "false"},
    }


def _value(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if "\n" in text or "\r" in text:
        raise ValueError(f"an i2pd option value must be one line, not {text!r}")
    return text


def apply_options(settings: Settings, options: Mapping[str, object] | None) -> Settings:
    """*settings* with *options* on top: i2pd's own names, ``section.option``
    for an option of a section (``"netid"``, ``"reseed.zipfile"``,
    ``"exploratory.inbound.length"``), as on i2pd's command line.
    """
    merged = {section: dict(values) for section, values in settings.items()}
    for name, value in (options or {}).items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]+(\.[A-Za-z0-9_.]+)?", name):
            raise ValueError(f"{name!r} is not an i2pd option name (e.g. 'netid' or 'reseed.zipfile')")
        section, dot, option = name.partition(".")
        if not dot:
            section, option = "", name
        merged.setdefault(section, {})[option] = _value(value)
    return merged


def render_config(settings: Settings, *, header: str = "Written by txi2p.") -> str:
    """``i2pd.conf`` text for *settings*."""
    lines = [f"# {header}"]
    lines += [f"{key} = {value}" for key, value in settings.get("", {}).items()]
    for section, values in settings.items():
        if section:
            lines += ["", f"[{section}]"] + [f"{key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def prepare_data_directory(data_directory: Path, files: Mapping[str, str] | None = None) -> None:
    """Make *data_directory* ready for i2pd: the directories and the empty
    tunnel configuration its settings name, and *files* (name -> text) where
    they are missing.  What is there already (keys, netDb) is kept.
    """
    data_directory.mkdir(parents=True, exist_ok=True)
    for name in ("tunnels.d", "certificates"):
        (data_directory / name).mkdir(exist_ok=True)
    tunnels = data_directory / "tunnels.conf"
    if not tunnels.exists():
        tunnels.write_text("")
    for name, text in (files or {}).items():
        path = data_directory / name
        if not path.exists():
            path.write_text(text)


def installed_certificates(binary: str) -> str | None:
    """The reseed and family certificates installed with *binary*, if found.

    A router with its own data directory needs them to check reseed
    servers on the real network (Debian: ``/usr/share/i2pd/certificates``).
    """
    prefix = Path(binary).resolve().parent.parent
    for candidate in (prefix / "share" / "i2pd" / "certificates",
                      prefix / "usr" / "share" / "i2pd" / "certificates",
                      Path("/usr/share/i2pd/certificates"), Path("/var/lib/i2pd/certificates")):
        if (candidate / "reseed").is_dir():
            return str(candidate)
    return None


def router_command(binary: str, data_directory: Path, config: Path, *, guard: bool = True) -> list[str]:
    """The command line of a router (through :mod:`txi2p.child_guard` if *guard*)."""
    command = [binary, f"--datadir={data_directory}", f"--conf={config}"]
    return guarded_command(command) if guard else command


def free_sam_port() -> int:
    """A loopback TCP port free now whose port minus one is free for UDP too
    (i2pd's SAM UDP port is always its TCP port minus one)."""
    for _ in range(100):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port - 1))
                except OSError:
                    continue
            return port
    raise OSError(errno.EADDRINUSE, "no free loopback port pair for a SAM bridge")


# -------------------------------------------------------------------- stages


@dataclass(frozen=True)
class Stage:
    """One stage of a router's start: reached when every fact of one of
    *needs* has been seen."""

    percent: int
    tag: str
    summary: str
    needs: tuple[frozenset[str], ...]


def _needs(*alternatives: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(a.split("+")) for a in alternatives)


#: The stages of a start, in order; ``progress_updates`` gets each one
#: reached (a stage passed over by a later one is not reported).
STAGES = (
    Stage(5, "starting", "starting i2pd", _needs("spawned")),
    Stage(10, "process", "i2pd is running", _needs("process")),
    Stage(15, "netdb", "network database loaded", _needs("netdb")),
    Stage(25, "reseeding", "reseeding (asking for the first peers)", _needs("reseeding")),
    Stage(40, "peers", "peers known", _needs("peers")),
    Stage(50, "sam_started", "SAM bridge started", _needs("sam_started")),
    Stage(60, "sam", "SAM bridge answers HELLO", _needs("sam")),
    Stage(70, "tunnel", "first exploratory tunnel built", _needs("inbound", "outbound")),
    Stage(85, "tunnels", "exploratory tunnels built both ways", _needs("inbound+outbound")),
    Stage(100, "done", "ready: exploratory tunnels built and SAM answering", _needs("inbound+outbound+sam")),
)

#: Log lines (i2pd 2.45 to 2.58 wording) and the fact each tells.
LOG_FACTS = (
    (re.compile(r"i2pd v\S+ .*starting"), "process"),
    (re.compile(r"NetDb: \d+ routers loaded"), "netdb"),
    (re.compile(r"NetDb: [1-9]\d* routers loaded"), "peers"),
    # every start loads the reseed certificates: not a reseed
    (re.compile(r"Reseed: (?!\d+ certificates loaded|Can't load reseed certificates)"), "reseeding"),
    (re.compile(r"NetDb: RouterInfo added"), "peers"),
    (re.compile(r"Starting SAM bridge"), "sam_started"),
    (re.compile(r"Inbound tunnel \d+ has been created"), "inbound"),
    (re.compile(r"Outbound tunnel \d+ has been created"), "outbound"),
)


class StageTracker:
    """Which stage a router has reached, from its log lines and what was seen of it."""

    def __init__(self) -> None:
        self.facts: set[str] = set()
        self.stage: Stage | None = None

    def see(self, fact: str) -> list[Stage]:
        """Note *fact*; the stages newly reached (each above the last one reported)."""
        self.facts.add(fact)
        return self._advance()

    def feed(self, line: str) -> list[Stage]:
        """Note the facts one log line tells; the stages newly reached."""
        for pattern, fact in LOG_FACTS:
            if pattern.search(line):
                self.facts.add(fact)
        return self._advance()

    def _advance(self) -> list[Stage]:
        reached = [s for s in STAGES if any(n <= self.facts for n in s.needs)
                   and (self.stage is None or s.percent > self.stage.percent)]
        if reached:
            self.stage = reached[-1]
            return [self.stage]
        return []

    @property
    def ready(self) -> bool:
        return self.stage is not None and self.stage.percent == 100

    @property
    def tag(self) -> str:
        return self.stage.tag if self.stage else ""


# ------------------------------------------------------------------- process


class _LogReader:
    """Reads the lines a router appends to its log file (polled)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._partial = ""

    def lines(self) -> list[str]:
        if self._file is None:
            try:
                self._file = open(self.path, errors="replace")
            except OSError:
                return []
        text = self._partial + self._file.read()
        *complete, self._partial = text.split("\n")
        return complete

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _RouterProtocol(ProcessProtocol):
    def __init__(self) -> None:
        self.output: deque[str] = deque(maxlen=20)
        self.ended: Deferred[None] = Deferred()
        self.exit_status = ""

    def outReceived(self, data: bytes) -> None:
        self.output.extend(line for line in data.decode(errors="replace").splitlines() if line.strip())

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        if isinstance(value, ProcessTerminated):
            self.exit_status = (f"killed by signal {value.signal}" if value.signal is not None
                                else f"exit code {value.exitCode}")
        elif isinstance(value, ProcessDone):
            self.exit_status = "exit code 0"
        self.ended.callback(None)


class _DirectoryLock:
    """Holds *data_directory* for one router: a lock file of txi2p's, and no
    other i2pd's live pid file there."""

    def __init__(self, data_directory: Path) -> None:
        self._path = data_directory / "txi2p.lock"
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise DataDirectoryInUse(f"{data_directory} is in use by another router txi2p started") from None
        pid = _live_i2pd(data_directory / "i2pd.pid")
        if pid is not None:
            self.release()
            raise DataDirectoryInUse(f"{data_directory} is in use by the i2pd running as process {pid}")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _live_i2pd(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"i2pd" in command else None


class I2pdRouter:
    """One i2pd router run as a child of this process, under the reactor.

    :param reactor: the reactor.
    :param binary: the i2pd to run (see :func:`find_i2pd_binary`).
    :param data_directory: its data directory (made if missing).
    :param settings: its configuration (see :func:`router_settings`).
    :param temporary: remove *data_directory* when the router is stopped.
    :param guard: run it through :mod:`txi2p.child_guard` (it dies with this process).
    """

    def __init__(self, reactor: Any, binary: str, data_directory: Path, settings: Settings, *,
                 temporary: bool = False, guard: bool = True,
                 files: Mapping[str, str] | None = None) -> None:
        self.reactor = reactor
        self.binary = binary
        self.data_directory = data_directory
        self.settings = settings
        self.temporary = temporary
        self.guard = guard
        self.tracker = StageTracker()
        self._files = files
        self._protocol: _RouterProtocol | None = None
        self._lock: _DirectoryLock | None = None
        self._stopping: Deferred[None] | None = None

    @property
    def config_path(self) -> Path:
        return self.data_directory / "i2pd.conf"

    @property
    def log_path(self) -> Path:
        return Path(self.settings.get("", {}).get("logfile") or self.data_directory / "i2pd.log")

    @property
    def pid(self) -> int | None:
        transport = self._protocol.transport if self._protocol else None
        return getattr(transport, "pid", None)

    @property
    def running(self) -> bool:
        return self._protocol is not None and not self._protocol.ended.called

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            text = ["(no log)"]
        output = list(self._protocol.output) if self._protocol else []
        if output:
            text += ["----- i2pd output -----", *output]
        return "\n".join(text)

    def start(self) -> None:
        """Write the configuration and start the process (no waiting)."""
        prepare_data_directory(self.data_directory, self._files)
        self._lock = _DirectoryLock(self.data_directory)
        self.config_path.write_text(render_config(self.settings))
        with contextlib.suppress(FileNotFoundError):
            # this run's log only (its stages are read from it); the last run's is kept beside it
            self.log_path.replace(self.log_path.with_name(self.log_path.name + ".old"))
        self._protocol = _RouterProtocol()
        command = router_command(self.binary, self.data_directory, self.config_path, guard=self.guard)
        self.reactor.spawnProcess(self._protocol, command[0], command, env=dict(os.environ),
                                  path=str(self.data_directory), childFDs={0: "w", 1: "r", 2: "r"})
        follow(self._protocol.ended).addBoth(self._ended)

    def _ended(self, result: object) -> object:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        return result

    def _remove_temporary(self) -> None:
        if self.temporary:
            shutil.rmtree(self.data_directory, ignore_errors=True)

    async def wait_ready(self, progress: Callable[[Stage], object], hello: Callable[[], Awaitable[bool]],
                         timeout: float) -> None:
        """Report each stage to *progress* until the router is ready.

        *hello* says whether the SAM bridge answers now (tried once a
        second).  Raises :class:`RouterFailed` if the router exits or is
        not ready within *timeout* seconds.
        """
        assert self._protocol is not None
        protocol = self._protocol
        reader = _LogReader(self.log_path)
        tracker = self.tracker

        def report(stages: Iterable[Stage]) -> None:
            for stage in stages:
                _log.info("i2pd {pid}: {percent}% {summary}", pid=self.pid, percent=stage.percent,
                          summary=stage.summary)
                progress(stage)

        def poll() -> None:
            for line in reader.lines():
                report(tracker.feed(line))

        report(tracker.see("spawned"))
        poller = LoopingCall(poll)
        poller.clock = self.reactor
        poller.start(0.2)
        deadline = self.reactor.seconds() + timeout
        try:
            while not tracker.ready:
                if not self.running:
                    poll()
                    raise RouterFailed(f"i2pd exited ({protocol.exit_status}) before it was ready",
                                       tracker.tag, self.log_tail())
                if self.reactor.seconds() > deadline:
                    raise RouterFailed(f"i2pd was not ready after {timeout:g} s", tracker.tag, self.log_tail())
                if "sam" not in tracker.facts and await hello():
                    report(tracker.see("sam"))
                    continue
                await deferLater(self.reactor, 1.0, lambda: None)
        finally:
            poller.stop()
            reader.close()

    def stop(self, grace: float = STOP_GRACE) -> Deferred[None]:
        """Stop the router: SIGTERM, then SIGKILL after *grace* seconds.

        Fires once the process has exited and a temporary data directory
        is removed (kept until then, even after the router exited on its
        own, for its log).
        """
        if self._protocol is None or self._protocol.ended.called:
            self._remove_temporary()
            return Deferred.fromCoroutine(_done())
        if self._stopping is None:
            self._stopping = Deferred.fromCoroutine(self._stop(grace))
        return follow(self._stopping)

    async def _stop(self, grace: float) -> None:
        assert self._protocol is not None
        ended = self._protocol.ended
        self._signal(signal.SIGTERM)
        kill = self.reactor.callLater(grace, self._signal, signal.SIGKILL)
        try:
            await follow(ended)
        finally:
            if kill.active():
                kill.cancel()
        self._remove_temporary()

    def _signal(self, number: int) -> None:
        transport = self._protocol.transport if self._protocol else None
        if transport is not None and self.running:
            with contextlib.suppress(OSError, Exception):
                transport.signalProcess(number)


async def _done() -> None:
    return None


def follow(source: Deferred[Any]) -> Deferred[None]:
    """A new Deferred that fires (None, or the failure) once *source* has fired;
    *source* goes on with None."""
    follower: Deferred[None] = Deferred()

    def fire(result: object) -> None:
        if isinstance(result, Failure):
            follower.errback(result)
        else:
            follower.callback(None)

    source.addBoth(fire)
    return follower
