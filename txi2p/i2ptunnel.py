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
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.python import usage

from txi2p import tunnel
from txi2p.config import BridgeConfig, parse_bool
from txi2p.private import check_auth
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


def tunnel_spec(kind: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """Check one tunnel's settings; return the keyword arguments of its service."""
    extra_options = {k[len("option."):]: v for k, v in values.items() if k.startswith("option.")}
    values = {k.replace("_", "-"): v for k, v in values.items() if not k.startswith("option.")}
    options_class = ServerOptions if kind == "server" else ClientOptions
    allowed: set[str] = {str(p[0]) for p in [*options_class.optParameters, *options_class.optFlags]}
    allowed |= {"options", "type"}
    unknown = set(values) - allowed
    if unknown:
        raise usage.UsageError(f"{where}unknown setting(s) {', '.join(sorted(unknown))} for a {kind} "
                               f"tunnel; known: {', '.join(sorted(allowed - {'type'}))}")
    if values.get("port") is None:
        raise usage.UsageError(f"{where}--port is required for a {kind} tunnel")
    if kind == "client" and not values.get("dest"):
        raise usage.UsageError(f"{where}--dest is required for a client tunnel")
    spec: dict[str, Any] = {"kind": kind}
    port = _int("port", values["port"], where)
    if kind == "server" and port == 0:
        raise usage.UsageError(f"{where}port must be from 1 to 65535")
    spec["port"] = port
    spec["session"] = values.get("session") or f"i2ptunnel-{kind}-{port}"
    try:
        codec.check_token("session", spec["session"])
    except ValueError as e:
        raise usage.UsageError(f"{where}{e}") from None
    spec["keyfile"] = values.get("keyfile")
    try:
        spec["bridge"] = BridgeConfig(values.get("samaddr") or None, None,
                                      _flag("allow-remote", values.get("allow-remote"), where),
                                      values.get("sam-user") or None, values.get("sam-password") or None)
    except ValueError as e:
        raise usage.UsageError(f"{where}{e}") from None
    for name in ("i2p-port", "in-depth", "out-depth", "nconnect"):
        if values.get(name) is not None:
            spec[name.replace("-", "_")] = _int(name, values[name], where)
    if spec.get("nconnect") == 0:
        raise usage.UsageError(f"{where}nconnect must be -1 or positive")
    if values.get("timeout") is not None:
        try:
            spec["timeout"] = float(values["timeout"])
        except ValueError:
            raise usage.UsageError(f"{where}timeout must be a number of seconds") from None
        if spec["timeout"] <= 0:
            raise usage.UsageError(f"{where}timeout must be positive")
    options = values.get("options") or {}
    if isinstance(options, str):
        parsed = {}
        for item in filter(None, (i.strip() for i in options.split(","))):
            key, sep, val = item.partition("=")
            if not sep:
                raise usage.UsageError(f"{where}options must be key=value,key=value")
            parsed[key.strip()] = val.strip()
        options = parsed
    spec["options"] = {**options, **extra_options}
    if kind == "server":
        spec["host"] = values.get("host") or "127.0.0.1"
        spec["private"] = _flag("private", values.get("private"), where)
        spec["clients_file"] = values.get("clients") or None
        spec["auth"] = values.get("auth") or "psk"
        try:
            check_auth(spec["auth"])
        except ValueError as e:
            raise usage.UsageError(f"{where}{e}") from None
    else:
        spec["dest"] = values["dest"]
        spec["interface"] = values.get("interface") or "127.0.0.1"
        spec["client_key_file"] = values.get("client-key") or None
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
    spec = dict(spec)
    kind = spec.pop("kind")
    common = dict(bridge=spec["bridge"], options=spec["options"] or None,
                  in_depth=spec.get("in_depth"), out_depth=spec.get("out_depth"),
                  nconnect=spec.get("nconnect", -1), timeout=spec.get("timeout"),
                  keyfile=spec["keyfile"], i2p_port=spec.get("i2p_port"))
    if kind == "server":
        return tunnel.TunnelServer(reactor, spec["session"], spec["port"], host=spec["host"],
                                   private=spec["private"], clients_file=spec["clients_file"],
                                   auth=spec["auth"], **common)
    return tunnel.TunnelClient(reactor, spec["session"], spec["port"], spec["dest"],
                               interface=spec["interface"], client_key_file=spec["client_key_file"], **common)


def makeService(options: Options) -> IService:
    """A MultiService holding one tunnel service per tunnel."""
    from twisted.internet import reactor

    parent = MultiService()
    for spec in tunnel_specs(options):
        service = _service(reactor, spec)
        service.setName(f"{spec['kind']}:{spec['session']}:{spec['port']}")
        service.setServiceParent(parent)
    return parent
