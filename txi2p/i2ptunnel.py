"""``twistd i2ptunnel``: I2P tunnels as a twistd service.

    twistd -n i2ptunnel server --session web --keyfile web.key --port 8080 [--i2p-port 80]
    twistd -n i2ptunnel client --dest <name|b32|base64> --port 8081
    twistd -n i2ptunnel --config tunnels.ini

A config file has one section per tunnel; its keys are the options' long
names (``-`` or ``_``), plus ``type = server`` or ``type = client``, and
``option.<name> = <value>`` for each I2CP option (``--option`` on the
command line)::

    [web]
    type = server
    session = web
    keyfile = web.key
    port = 8080
    option.inbound.quantity = 3

    [proxy-to-web]
    type = client
    dest = xxxx.b32.i2p
    port = 8081

Every option and every config value is checked before anything starts.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.python import usage

from txi2p import tunnel
from txi2p.config import BridgeConfig, SessionConfig, parse_bool
from txi2p.endpoints import I2PClientEndpoint, I2PServerEndpoint
from txi2p.private import ClientKey, PrivateService, check_auth
from txi2p.sam import codec

__all__ = ["Options", "makeService", "tunnel_specs"]

_COMMON_PARAMETERS = [
    ["session", "s", None, "Session name of our destination (default: i2ptunnel-<type>-<port>)."],
    ["keyfile", "k", None, "Key file of our destination: created if missing, so the address "
                           "stays the same across restarts."],
    ["samaddr", None, None, "SAM bridge host:port (default: $I2P_SAM_ADDRESS or 127.0.0.1:7656)."],
    ["sam-user", None, None, "SAM 3.2 user name, for a bridge with authentication on."],
    ["sam-password", None, None, "Its password (better in a --config file than on the command line)."],
    ["i2p-port", None, None, "I2P port: to accept (server) or to connect to (client)."],
    ["in-depth", None, None, "Inbound tunnel length (default 2)."],
    ["out-depth", None, None, "Outbound tunnel length (default 2)."],
    ["nconnect", None, "-1", "Most simultaneous connections; more are refused (-1: unlimited)."],
    ["timeout", None, None, "Longest one connection may last, in seconds (default: forever)."],
]

_COMMON_FLAGS = [
    ["allow-remote", None, "Accept a --samaddr that is not on this machine (SAM is not encrypted)."],
]

_INT_KEYS = {"port": (0, 65535), "i2p-port": (1, 65535), "in-depth": (0, 7), "out-depth": (0, 7),
             "nconnect": (-1, 1_000_000)}


class _TunnelOptions(usage.Options):
    kind = ""

    optFlags: list[list[str | None]] = []

    def __init__(self) -> None:
        super().__init__()
        self["options"] = {}

    def opt_option(self, value: str) -> None:
        """An I2CP session option, key=value (may be repeated)."""
        key, sep, val = value.partition("=")
        if not sep or not key or not val:
            raise usage.UsageError(f"--option needs key=value, not {value!r}")
        self["options"][key] = val

    def postOptions(self) -> None:
        self["spec"] = tunnel_spec(self.kind, {k: v for k, v in self.items() if v is not None}, "")


class ServerOptions(_TunnelOptions):
    """``i2ptunnel server``: expose a local TCP server as an I2P destination."""

    kind = "server"
    synopsis = "--port <local port> [--session name] [--keyfile file] [--i2p-port n] [options]"
    optParameters = [
        ["port", "p", None, "Local TCP port to relay incoming I2P streams to (required)."],
        ["host", None, "127.0.0.1", "Local host to relay to."],
        ["clients", None, None, "File of NAME:KEY lines: a private service only these clients reach "
                                "(implies --private)."],
        ["auth", None, None, "Kind of client keys in --clients: psk (default) or dh."],
        *_COMMON_PARAMETERS,
    ]
    optFlags = [
        ["private", None, "A private service: encrypted lease set, reached by its b33 name only."],
        *_COMMON_FLAGS,
    ]


class ClientOptions(_TunnelOptions):
    """``i2ptunnel client``: bind an I2P destination to a local port."""

    kind = "client"
    synopsis = "--dest <name|b32|base64> --port <local port> [options]"
    optParameters = [
        ["dest", "d", None, "I2P destination to relay to: host name, .b32.i2p or base64 (required)."],
        ["port", "p", None, "Local TCP port to listen on (required)."],
        ["interface", None, "127.0.0.1", "Local interface to listen on (anything but loopback "
                                         "exposes the tunnel to other machines)."],
        ["client-key", None, None, "File holding this client's key, for a private service that lists it."],
        *_COMMON_PARAMETERS,
    ]
    optFlags = [*_COMMON_FLAGS]


_OPTIONS_CLASSES: dict[str, type[ServerOptions] | type[ClientOptions]] = {
    "server": ServerOptions, "client": ClientOptions}


class Options(usage.Options):
    """``twistd i2ptunnel``: I2P tunnels (a server, a client, or many from --config)."""

    synopsis = "[server|client] [options] | --config tunnels.ini"
    optParameters = [["config", "c", None, "INI file with one section per tunnel."]]
    subCommands = [
        ["server", None, ServerOptions, "Expose a local TCP server as an I2P destination."],
        ["client", None, ClientOptions, "Bind an I2P destination to a local TCP port."],
    ]

    def postOptions(self) -> None:
        if self["config"] and self.subCommand:
            raise usage.UsageError("give --config or a server/client command, not both")
        if self["config"]:
            self["specs"] = tunnel_specs_from_file(self["config"])
        elif self.subCommand:
            self["specs"] = [self.subOptions["spec"]]
        else:
            raise usage.UsageError("give a 'server' or 'client' command, or --config tunnels.ini")


def _int(name: str, value: Any, where: str) -> int:
    low, high = _INT_KEYS[name]
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        raise usage.UsageError(f"{where}{name} must be an integer, not {text!r}") from None
    if not low <= number <= high:
        raise usage.UsageError(f"{where}{name} must be from {low} to {high}, not {number}")
    return number


@contextmanager
def _usage(where: str) -> Iterator[None]:
    """A ValueError inside becomes the UsageError twistd prints, prefixed with *where*."""
    try:
        yield
    except ValueError as e:
        if isinstance(e, usage.UsageError):
            raise
        raise usage.UsageError(f"{where}{e}") from None


def _timeout(value: Any, where: str) -> float:
    try:
        timeout = float(value)
    except ValueError:
        raise usage.UsageError(f"{where}timeout must be a number of seconds") from None
    if timeout <= 0:
        raise usage.UsageError(f"{where}timeout must be positive")
    return timeout


def _option_list(options: Any, where: str) -> dict[str, str]:
    """``options`` as given: a mapping (``--option``), or ``key=value,key=value`` (INI)."""
    if not isinstance(options, str):
        return dict(options or {})
    parsed = {}
    for item in filter(None, (i.strip() for i in options.split(","))):
        key, sep, val = item.partition("=")
        if not sep:
            raise usage.UsageError(f"{where}options must be key=value,key=value")
        parsed[key.strip()] = val.strip()
    return parsed


def _check_names(kind: str, values: dict[str, Any], where: str) -> None:
    options_class = _OPTIONS_CLASSES[kind]
    allowed: set[str] = {str(p[0]) for p in [*options_class.optParameters, *options_class.optFlags]}
    allowed |= {"options", "type"}
    unknown = set(values) - allowed
    if unknown:
        raise usage.UsageError(f"{where}unknown setting(s) {', '.join(sorted(unknown))} for a {kind} "
                               f"tunnel; known: {', '.join(sorted(allowed - {'type'}))}")
    for name in _REQUIRED[kind]:
        if values.get(name) is None or (name == "dest" and not values[name]):
            raise usage.UsageError(f"{where}--{name} is required for a {kind} tunnel")


def _server_settings(values: dict[str, Any], where: str) -> dict[str, Any]:
    private = _flag("private", values.get("private"), where)
    auth = str(values.get("auth") or "psk")
    with _usage(where):
        check_auth(auth)
    return {"host": values.get("host") or "127.0.0.1", "private": private,
            "clients_file": values.get("clients") or None, "auth": auth}


def _client_settings(values: dict[str, Any], where: str) -> dict[str, Any]:
    return {"dest": values["dest"], "interface": values.get("interface") or "127.0.0.1",
            "client_key_file": values.get("client-key") or None}


#: Settings each kind of tunnel requires, and the reader of its own ones.
_REQUIRED = {"server": ("port",), "client": ("port", "dest")}
_KIND_SETTINGS = {"server": _server_settings, "client": _client_settings}
#: Integer settings read when given (ranges in _INT_KEYS).
_INT_NAMES = ("i2p-port", "in-depth", "out-depth", "nconnect")


def tunnel_spec(kind: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """Check one tunnel's settings; return them, as the loose values of :func:`_service`."""
    extra_options = {k[len("option."):]: v for k, v in values.items() if k.startswith("option.")}
    values = {k.replace("_", "-"): v for k, v in values.items() if not k.startswith("option.")}
    _check_names(kind, values, where)
    port = _int("port", values["port"], where)
    if kind == "server" and port == 0:
        raise usage.UsageError(f"{where}port must be from 1 to 65535")
    spec: dict[str, Any] = {"kind": kind, "port": port,
                            "session": values.get("session") or f"i2ptunnel-{kind}-{port}",
                            "keyfile": values.get("keyfile")}
    with _usage(where):
        codec.check_token("session", spec["session"])
        spec["bridge_config"] = BridgeConfig(values.get("samaddr") or None, None,
                                             _flag("allow-remote", values.get("allow-remote"), where),
                                             values.get("sam-user") or None, values.get("sam-password") or None)
    spec.update({name.replace("-", "_"): _int(name, values[name], where)
                 for name in _INT_NAMES if values.get(name) is not None})
    if spec.get("nconnect") == 0:
        raise usage.UsageError(f"{where}nconnect must be -1 or positive")
    if values.get("timeout") is not None:
        spec["timeout"] = _timeout(values["timeout"], where)
    spec["options"] = {**_option_list(values.get("options"), where), **extra_options}
    spec.update(_KIND_SETTINGS[kind](values, where))
    return spec


def _flag(name: str, value: Any, where: str) -> bool:
    if value is None:
        return False
    try:
        return parse_bool(value)
    except ValueError:
        raise usage.UsageError(f"{where}{name} must be true or false, not {value!r}") from None


def tunnel_specs_from_file(path: str) -> list[dict[str, Any]]:
    """Read and check every tunnel of an INI file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # I2CP option names are case-sensitive
    try:
        with open(path) as f:
            parser.read_file(f)
    except OSError as e:
        raise usage.UsageError(f"cannot read the config file {path!r}: {e.strerror}") from None
    except configparser.Error as e:
        raise usage.UsageError(f"the config file {path!r} is not a valid INI file: {e}") from None
    if not parser.sections():
        raise usage.UsageError(f"the config file {path!r} has no [tunnel] sections")
    specs = []
    for name in parser.sections():
        values = dict(parser.items(name))
        where = f"{path} [{name}]: "
        kind = values.get("type", "").strip()
        if kind not in ("server", "client"):
            raise usage.UsageError(f"{where}type must be 'server' or 'client', not {kind!r}")
        specs.append(tunnel_spec(kind, values, where))
    return specs


def tunnel_specs(options: Options) -> list[dict[str, Any]]:
    return list(options["specs"])


def _service(reactor: Any, spec: dict[str, Any]) -> tunnel.Tunnel:
    """The tunnel service of a checked *spec*: its configs built here, once."""
    session_config = SessionConfig.build(nickname=spec["session"], keyfile=spec["keyfile"],
                                         options=spec["options"] or None, in_depth=spec.get("in_depth"),
                                         out_depth=spec.get("out_depth"))
    limits = {"nconnect": spec.get("nconnect", -1), "timeout": spec.get("timeout")}
    if spec["kind"] == "server":
        private = (PrivateService(clients_file=spec["clients_file"], auth=spec["auth"])
                   if spec["private"] or spec["clients_file"] else False)
        receive = I2PServerEndpoint(reactor, spec.get("i2p_port"), bridge_config=spec["bridge_config"],
                                    session_config=session_config, private=private)
        return tunnel.TunnelServer(reactor, receive, spec["port"], host=spec["host"], **limits)
    client_key = ClientKey(file=spec["client_key_file"]) if spec["client_key_file"] else None
    send = I2PClientEndpoint(reactor, spec["dest"], spec.get("i2p_port"), bridge_config=spec["bridge_config"],
                             session_config=session_config, client_key=client_key)
    return tunnel.TunnelClient(reactor, send, spec["port"], interface=spec["interface"], **limits)


def makeService(options: Options) -> IService:
    """A MultiService holding one tunnel service per tunnel."""
    from twisted.internet import reactor

    parent = MultiService()
    for spec in tunnel_specs(options):
        service = _service(reactor, spec)
        service.setName(f"{spec['kind']}:{spec['session']}:{spec['port']}")
        service.setServiceParent(parent)
    return parent
