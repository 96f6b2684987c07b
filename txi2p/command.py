"""The ``txi2p`` command: check a router, make and read keys, look names up.

::

    txi2p check   [--sam HOST:PORT] [-o KEY=VALUE ...]   # what a router speaks, how fast
    txi2p keygen  FILE [--sig-type N] [--sam HOST:PORT]  # a new key file (mode 0600)
    txi2p address FILE|DESTINATION                       # its .b32.i2p names and destination
    txi2p lookup  NAME [--sam HOST:PORT]                 # a name's destination
    txi2p clientkey FILE [--name NAME]                   # a client key for a private service

Also ``python -m txi2p``.  Progress goes to stderr, results to stdout;
errors end with exit status 1 and say what to check (2: bad arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from txi2p import private
from txi2p.address import (
    BLINDED_SIGNATURE_TYPES,
    Destination,
    KeyFileError,
    PrivateKey,
    read_key_file,
    write_key_file,
)
from txi2p.errors import InvalidKey, TxI2PError
from txi2p.session import DEFAULT_SIGNATURE_TYPE, SAMBridge, default_sam_address

__all__ = ["main", "parser", "run"]


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
    return top


async def run(reactor: Any, argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the command *argv*; the exit status."""
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
        if args.command == "address":
            return _address(args.source, out)
        if args.command == "clientkey":
            return _clientkey(args.file, args.name, out)
        bridge = SAMBridge(reactor, args.sam, user=args.user, password=args.password,
                           allow_remote=args.allow_remote)
        if args.command == "check":
            return await _check(reactor, bridge, _options(args.option), out, say)
        if args.command == "keygen":
            return await _keygen(bridge, args.file, args.sig_type, out, say)
        return await _lookup(bridge, args.name, out, say)
    except (TxI2PError, ValueError, OSError) as e:
        print(f"txi2p {args.command}: error: {e}", file=err, flush=True)
        return 1


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``txi2p`` console script and ``python -m txi2p``."""
    from twisted.internet import defer, task

    async def go(reactor: Any) -> None:
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


def _clientkey(path: Path, name: str, out: TextIO) -> int:
    key = private.new_client_key()
    line = private.client_line(name, key)
    private.write_client_key(path, key)
    print(f"wrote {path} (mode 0600): give it to the client (clientKey={path})", file=out)
    print(f"the service lists it with this line in its clients= file:\n{line}", file=out)
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
    say(f"asking the router at {bridge.address} for a new destination (DEST GENERATE)")
    key: PrivateKey = await bridge.generate_destination(int(sig_type) if sig_type.isdigit() else sig_type)
    write_key_file(path, key)
    print(f"wrote {path} (mode 0600): {key.b32}", file=out)
    return 0


async def _lookup(bridge: SAMBridge, name: str, out: TextIO, say: Callable[[str], None]) -> int:
    say(f"looking {name} up through the router at {bridge.address}")
    return _print_destination(await bridge.lookup(name), out)  # refuses "ME" (no session here)


async def _check(reactor: Any, bridge: SAMBridge, options: dict[str, str], out: TextIO,
                 say: Callable[[str], None]) -> int:
    say(f"connecting to the SAM bridge at {bridge.address}")
    started = time.monotonic()
    control = await bridge.control()
    control.close()
    assert bridge.dialect is not None
    print(f"bridge:          {bridge.address} (HELLO answered in {time.monotonic() - started:.2f} s)", file=out)
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
    print(f"learned:         {dialect}", file=out)
    print("the router works for txi2p", file=out)
    return 0
