"""The ``txi2p`` command: check a router, make and read keys, look names up,
serve a site, run a private test network.

::

    txi2p check   [--sam HOST:PORT] [-o KEY=VALUE ...]   # what a router speaks, how fast
    txi2p keygen  FILE [--sig-type N] [--sam HOST:PORT]  # a new key file (mode 0600)
    txi2p address FILE|DESTINATION                       # its .b32.i2p names and destination
    txi2p lookup  NAME [--sam HOST:PORT]                 # a name's destination
    txi2p clientkey FILE [--name NAME] [--auth psk|dh]   # a client key for a private service
    txi2p serve   DIR [--key FILE] [--port N] [--sam HOST:PORT]   # a static site on I2P
    txi2p testnet [--routers N] [--i2pd PATH] [-- COMMAND ...]    # a private network of i2pd routers

Also ``python -m txi2p``.  Progress goes to stderr, results to stdout;
errors end with exit status 1 and say what to check (2: bad arguments).

``serve`` and ``testnet`` run until Ctrl-C, SIGTERM or SIGHUP, then stop
cleanly (exit status 0).  ``testnet`` runs its routers in a network namespace of
their own: their SAM bridges are reachable only inside it.  Given a
COMMAND, it runs that inside the namespace with ``I2P_SAM_ADDRESS`` set
(``I2P_SAM_ADDRESSES``: all of them, comma-separated), leaves Ctrl-C to
it, passes SIGTERM on, stops the routers when it exits and exits with
its status.  Without one, it prints the SAM addresses and the
``nsenter`` line that opens a shell inside the namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from twisted.internet import defer
from twisted.internet.defer import Deferred

from txi2p import installation, private
from txi2p.address import (
    BLINDED_SIGNATURE_TYPES,
    Destination,
    KeyFileError,
    PrivateKey,
    read_key_file,
    write_key_file,
)
from txi2p.bridge import SAMBridge
from txi2p.command_stop import CommandError, Stopped, Until
from txi2p.command_testnet import testnet
from txi2p.config import DEFAULT_SIGNATURE_TYPE, BridgeConfig, SessionConfig, default_sam_address
from txi2p.errors import InvalidKey, TxI2PError

__all__ = ["CommandError", "main", "parser", "run"]



def parser() -> argparse.ArgumentParser:
    """The command line, one subcommand per job."""
    top = argparse.ArgumentParser(prog="txi2p", description="I2P from the command line, over a router's SAM bridge.")
    subs = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def bridge_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--sam", metavar="HOST:PORT", default=None,
                         help=f"the SAM bridge (default: $I2P_SAM_ADDRESS or {default_sam_address()})")
        sub.add_argument("--allow-remote", action="store_true",
                         help="allow a bridge on another machine (SAM is not encrypted)")
        sub.add_argument("--user", default=None, help="SAM 3.2 user name")
        sub.add_argument("--password", default=None, help="SAM 3.2 password")

    check = subs.add_parser("check", help="what the router's SAM bridge speaks, and how long a session takes")
    bridge_options(check)
    check.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                       help="an I2CP option for the test session (repeatable), e.g. inbound.length=1")
    keygen = subs.add_parser("keygen", help="a new destination's private key, written to FILE (mode 0600)")
    keygen.add_argument("file", type=Path)
    keygen.add_argument("--sig-type", default=str(DEFAULT_SIGNATURE_TYPE), metavar="N",
                        help=f"signature type number or name (default {DEFAULT_SIGNATURE_TYPE}: EdDSA)")
    bridge_options(keygen)
    address = subs.add_parser("address", help="the .b32.i2p name and destination of a key file or destination")
    address.add_argument("source", metavar="FILE|DESTINATION")
    lookup = subs.add_parser("lookup", help="the destination of an I2P host name or .b32.i2p name")
    lookup.add_argument("name")
    bridge_options(lookup)
    clientkey = subs.add_parser("clientkey", help="a new client key for a private service, written to FILE "
                                                  "(mode 0600); prints the line the service lists it by")
    clientkey.add_argument("file", type=Path)
    clientkey.add_argument("--name", default="client", help="the client's name in the service's list")
    clientkey.add_argument("--auth", choices=sorted(private.AUTH_TYPES), default="psk",
                           help="the service's kind of client keys: psk (it lists the key itself, the default) "
                                "or dh (it lists the key's public half)")
    serve = subs.add_parser("serve", help="a static site on I2P: the files of DIR, at a .b32.i2p address, "
                                          "until Ctrl-C")
    serve.add_argument("dir", type=Path, metavar="DIR", help="the directory to serve")
    serve.add_argument("--key", type=Path, default=None, metavar="FILE",
                       help="the site's key file, created if missing: the same address every run "
                            "(default: a new address each run)")
    serve.add_argument("--port", type=int, default=None, metavar="N",
                       help="the I2P port to accept (default: every port)")
    bridge_options(serve)
    serve.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                       help="an I2CP option for the site's session (repeatable), e.g. inbound.length=1")
    testnet = subs.add_parser(
        "testnet", help="a private I2P network of real i2pd routers on this machine, until Ctrl-C "
                        "(or as long as COMMAND runs)",
        usage="txi2p testnet [-h] [--routers N] [--i2pd PATH] [--no-wait] [--keep] [-- COMMAND [ARGS ...]]",
        description="Starts two floodfills and N routers with SAM bridges in a network namespace of "
                    "their own (their addresses are reachable only inside it).  With a COMMAND, runs it "
                    "inside with I2P_SAM_ADDRESS set and stops when it exits (with its status); without "
                    "one, prints how to reach the bridges and runs until Ctrl-C.  Needs root or "
                    "unprivileged user namespaces.")
    testnet.add_argument("--routers", type=_count, default=2, metavar="N",
                         help="routers with a SAM bridge (default 2), besides the two floodfills")
    testnet.add_argument("--i2pd", default=None, metavar="PATH",
                         help="the i2pd binary (default: $I2PD, else i2pd on $PATH)")
    testnet.add_argument("--no-wait", action="store_true",
                         help="go on once the SAM bridges accept connections, without waiting for a "
                              "session on each router and a stream between two (usually 20-40 s)")
    testnet.add_argument("--keep", action="store_true",
                         help="keep the routers' data directories and logs (default: removed at exit)")
    testnet.add_argument("child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return top


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 50:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 50")
    return int(text)


async def run(reactor: Any, argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr,
              *, stop: Deferred[None] | None = None) -> int:
    """Run the command *argv*; the exit status.

    *stop* fires when a subcommand that runs until stopped (``serve``,
    ``testnet``) should stop; by default, reactor shutdown (Ctrl-C,
    SIGTERM), which then waits for it to finish.
    """
    argv = list(argv)
    if len(argv) == 2 and argv[0] == "address" and argv[1].startswith("-") and argv[1] not in ("-h", "--help"):
        argv.insert(1, "--")  # a base64 destination may start with "-": not an option
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            args = parser().parse_args(argv)
    except SystemExit as e:  # argparse printed the usage (--help) or the error
        return int(e.code or 0)

    def say(text: str) -> None:
        print(f"[txi2p] {text}", file=err, flush=True)

    try:
        return await _subcommand(reactor, args, stop, out, say)
    except (TxI2PError, ValueError, OSError, CommandError) as e:
        print(f"txi2p {args.command}: error: {e}", file=err, flush=True)
        return 1


async def _subcommand(reactor: Any, args: argparse.Namespace, stop: Deferred[None] | None, out: TextIO,
                      say: Callable[[str], None]) -> int:
    """Run the subcommand *args* name, from the tables below; its exit status."""
    if args.command in _LOCAL:
        return _LOCAL[args.command](args, out)
    if args.command in _UNTIL_STOPPED:
        until = Until(reactor, stop)
        try:
            return await _UNTIL_STOPPED[args.command](reactor, args, until, out, say)
        finally:
            until.done()
    bridge = SAMBridge(reactor, bridge_config=_bridge_config(args))
    return await _ON_BRIDGE[args.command](reactor, bridge, args, out, say)


def _bridge_config(args: argparse.Namespace) -> BridgeConfig:
    """The bridge the command's ``--sam``, ``--allow-remote``, ``--user`` and ``--password`` name."""
    return BridgeConfig(args.sam, allow_remote=args.allow_remote, user=args.user, password=args.password)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``txi2p`` console script and ``python -m txi2p``."""
    from twisted.internet import task

    async def go(reactor: Any) -> None:
        if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:  # the terminal closed: stop as for SIGTERM
            signal.signal(signal.SIGHUP, lambda signum, frame: reactor.callFromThread(reactor.stop))
        status = await run(reactor, sys.argv[1:] if argv is None else argv)
        if status:
            raise SystemExit(status)  # react() exits with it

    task.react(lambda reactor: defer.Deferred.fromCoroutine(go(reactor)))


# ---------------------------------------------------------------- subcommands


def _options(pairs: Sequence[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"an option is KEY=VALUE, not {pair!r}")
        options[key] = value
    return options


def _address(source: str, out: TextIO) -> int:
    path = Path(source)
    try:
        is_file = path.exists()
    except OSError:  # e.g. a destination is too long for a file name
        is_file = False
    if is_file:
        key = read_key_file(path)
        if key is None:  # removed meanwhile
            raise KeyFileError(f"key file {source!r} does not exist")
        destination = key.destination
        print(f"key file:    {path}", file=out)
    else:
        try:
            destination = Destination.from_base64(source.strip())
        except InvalidKey:
            raise ValueError(f"{source[:60]!r} is neither a key file nor a base64 destination") from None
    return _print_destination(destination, out)


def _clientkey(path: Path, name: str, auth: str, out: TextIO) -> int:
    key = private.new_client_key()
    listed = private.client_public_key(key) if auth == "dh" else key
    line = private.client_line(name, listed)
    private.write_client_key(path, key)
    print(f"wrote {path} (mode 0600): give it to the client (clientKey={path})", file=out)
    print(f"the service (auth={auth}) lists it with this line in its clients= file:\n{line}", file=out)
    return 0


def _print_destination(destination: Destination, out: TextIO) -> int:
    print(f"b32:         {destination.b32}", file=out)
    if destination.signature_type in BLINDED_SIGNATURE_TYPES:
        print(f"private b33: {destination.b33()} (as a private service: private=true)", file=out)
        print(f"with clients: {destination.b33(client_auth=True)} (one with client keys: clients=<file>)",
              file=out)
    print(f"destination: {destination.base64}", file=out)
    return 0


async def _keygen(bridge: SAMBridge, path: Path, sig_type: str, out: TextIO, say: Callable[[str], None]) -> int:
    if path.exists():
        raise ValueError(f"{path} exists: a key file is never overwritten (it is an address)")
    say(f"asking the router at {bridge.sam_address} for a new destination (DEST GENERATE)")
    key: PrivateKey = await bridge.generate_destination(int(sig_type) if sig_type.isdigit() else sig_type)
    write_key_file(path, key)
    print(f"wrote {path} (mode 0600): {key.b32}", file=out)
    return 0


async def _lookup(bridge: SAMBridge, name: str, out: TextIO, say: Callable[[str], None]) -> int:
    say(f"looking {name} up through the router at {bridge.sam_address}")
    return _print_destination(await bridge.lookup(name), out)  # refuses "ME" (no session here)


def _fields(values: dict[str, object]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items()) or "(none)"


async def _check(reactor: Any, bridge: SAMBridge, options: dict[str, str], out: TextIO,
                 say: Callable[[str], None]) -> int:
    print(f"install:         {installation.status()}", file=out)
    say(f"connecting to the SAM bridge at {bridge.sam_address}")
    started = time.monotonic()
    control = await bridge.control()
    control.close()
    assert bridge.dialect is not None
    print(f"bridge:          {bridge.sam_address} (HELLO answered in {time.monotonic() - started:.2f} s)", file=out)
    print(f"SAM version:     {bridge.dialect.version}", file=out)
    say("asking whether the router keeps a connection open after PING (one probe)")
    print(f"PING keep-alive: {'yes' if await bridge.ping_allowed() else 'no (this router closes on PING)'}",
          file=out)
    say("starting a transient STREAM session (i2pd answers after its readiness check, about 20 s)")
    started = time.monotonic()
    session = await bridge.create_session("STREAM", options=options, progress=say)
    try:
        took = time.monotonic() - started
        own = await session.lookup("ME")
        print(f"session:         up in {took:.1f} s as {session.b32}", file=out)
        print(f"lookup of ME:    {'its own destination' if own == session.destination else 'ANOTHER destination'}",
              file=out)
    finally:
        session.close()
    dialect = bridge.dialect
    print(f"learned:         {_fields(dialect.known())}", file=out)
    print(f"assumed:         {_fields(dialect.assumed())} (defaults for SAM {dialect.version}, not probed)",
          file=out)
    print("the router works for txi2p", file=out)
    return 0


# ---------------------------------------------------------------- serve


@contextlib.contextmanager
def _warnings_to(say: Callable[[str], None]) -> Iterator[None]:
    """Logged warnings and errors (a session lost and started again) as progress."""
    from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher
    from zope.interface import provider

    @provider(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if level in (LogLevel.warn, LogLevel.error, LogLevel.critical):
            failure = event.get("log_failure")
            detail = f": {failure.getErrorMessage()}" if failure is not None else ""
            say(f"{level.name}: {formatEvent(event)}{detail}")

    globalLogPublisher.addObserver(observe)
    try:
        yield
    finally:
        globalLogPublisher.removeObserver(observe)


async def _serve(reactor: Any, args: argparse.Namespace, until: Until, out: TextIO,
                 say: Callable[[str], None]) -> int:
    from twisted.web.server import Site
    from twisted.web.static import File

    from txi2p.endpoints import I2PServerEndpoint

    root = args.dir.resolve()
    if not root.is_dir():
        raise CommandError(f"{args.dir} is not a directory")
    endpoint = I2PServerEndpoint(
        reactor, args.port, bridge_config=_bridge_config(args), progress=say, session_config=SessionConfig.build(
            keyfile=str(args.key) if args.key else None, options=_options(args.option) or None))
    say(f"starting a session on the router at {endpoint.bridge_config.where} "
        "(i2pd answers after its readiness check, about 20 s)")
    with _warnings_to(say):
        try:
            port = await until.until(endpoint.listen(Site(File(str(root)))))
        except Stopped:
            say("stopped before the site was up")
            return 0
        return await _serving(args, root, port, until, out, say)


async def _serving(args: argparse.Namespace, root: Path, port: Any, until: Until, out: TextIO,
                   say: Callable[[str], None]) -> int:
    try:
        host = port.getHost()
        suffix = f":{args.port}" if args.port not in (None, 80) else ""
        print(f"serving {root} at http://{host.host}{suffix}/", file=out, flush=True)
        if args.key is None:
            say("a new address each run: --key FILE keeps one")
        say("a new site takes a few seconds to be reachable (its lease set is published); Ctrl-C stops it")
        await until.wait()
        say("stopping")
    finally:
        await port.stopListening()
    return 0


# ---------------------------------------------------------------- the subcommands' table

#: Subcommands that need no router.
_LOCAL: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "address": lambda args, out: _address(args.source, out),
    "clientkey": lambda args, out: _clientkey(args.file, args.name, args.auth, out),
}
#: Subcommands that run until stopped.
_UNTIL_STOPPED: dict[str, Callable[..., Coroutine[Any, Any, int]]] = {"serve": _serve, "testnet": testnet}
#: Subcommands that ask the bridge of --sam.
_ON_BRIDGE: dict[str, Callable[..., Coroutine[Any, Any, int]]] = {
    "check": lambda reactor, bridge, args, out, say: _check(reactor, bridge, _options(args.option), out, say),
    "keygen": lambda reactor, bridge, args, out, say: _keygen(bridge, args.file, args.sig_type, out, say),
    "lookup": lambda reactor, bridge, args, out, say: _lookup(bridge, args.name, out, say),
}
