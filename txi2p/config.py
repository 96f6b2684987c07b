"""The two settings values every front door takes: how to reach a bridge, what a session is.

:class:`BridgeConfig` says how to reach one SAM bridge (its address or a
client endpoint, whether a remote address is accepted, SAM 3.2
credentials, command timeouts, UDP port).  :class:`SessionConfig` says
what a session is (nickname, key file, style, I2CP options, signature
type, ``auto_close``).  Both are frozen and checked when made.  The
Python classes (endpoints, datagrams, tunnels, the ``I2P`` object) take
only these two values; the doors where users write loose text (``i2p:``
endpoint strings, ``twistd i2ptunnel`` options and INI files,
``txi2p.socket``/``txi2p.sam`` and the 0.3.x names) parse it into them
once, at the edge (:meth:`SessionConfig.build`,
:meth:`BridgeConfig.from_loose`), and pass them down; nothing below
checks them again.

The checks every door shares live here too: :func:`check_port`,
:func:`is_loopback`, :func:`parse_sam_address`.

Session options are written three ways, one per syntax, all meaning the
same I2CP option (docs/sessions.rst has the table):

========================  =============================================
where                     how ``inbound.length`` = 1 is written
========================  =============================================
Python arguments          ``options={"inbound.length": 1}``
endpoint strings          ``i2p:site.i2p:inbound.length=1`` (0.3.x:
                          ``options=inbound.length\\:1``)
``twistd i2ptunnel``      ``--option inbound.length=1``; INI:
                          ``option.inbound.length = 1``
``txi2p.socket``          ``socket("s", inbound_length=1)``
========================  =============================================
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from txi2p.sam import codec
from txi2p.timeouts import Timeouts

if TYPE_CHECKING:
    from twisted.internet.interfaces import IStreamClientEndpoint

__all__ = [
    "DEFAULT_OPTIONS",
    "DEFAULT_SAM_ADDRESS",
    "DEFAULT_SIGNATURE_TYPE",
    "LEASE_SET_ENC_TYPES",
    "BridgeConfig",
    "Progress",
    "SessionConfig",
    "check_port",
    "default_sam_address",
    "enc_types",
    "is_loopback",
    "parse_bool",
    "parse_sam_address",
    "session_options",
]

DEFAULT_SAM_ADDRESS = "127.0.0.1:7656"

#: Called with a line of text at each step of a slow start (sessions, routers).
Progress = Callable[[str], None]

#: Signature type sent when creating a new destination (Ed25519; defined
#: by the wire layer, :data:`txi2p.sam.codec.DEFAULT_SIGNATURE_TYPE`).
DEFAULT_SIGNATURE_TYPE = codec.DEFAULT_SIGNATURE_TYPE

#: Session options sent unless the caller overrides them.
DEFAULT_OPTIONS: Mapping[str, str] = {
    "i2cp.leaseSetEncType": "4,0",
    "inbound.length": "2",
    "outbound.length": "2",
}

#: ``i2cp.leaseSetEncType`` numbers: ElGamal (0), X25519 (4) and the
#: post-quantum hybrids of ML-KEM-512/768/1024 with X25519 (5, 6, 7).
LEASE_SET_ENC_TYPES = {0: "ElGamal", 4: "X25519", 5: "ML-KEM-512-X25519", 6: "ML-KEM-768-X25519",
                       7: "ML-KEM-1024-X25519"}


def check_port(what: str, port: object, *, allow_zero: bool = False) -> int:
    """*port* if it is an integer port number (from 1, or 0 with *allow_zero*), else ValueError naming *what*."""
    low = 0 if allow_zero else 1
    if isinstance(port, bool) or not isinstance(port, int) or not low <= port <= 65535:
        raise ValueError(f"{what} must be an integer from {low} to 65535, not {port!r}")
    return port


def parse_bool(value: object) -> bool:
    """``true``/``yes``/``on``/``1`` or ``false``/``no``/``off``/``0`` (any case; bools and 0/1 as they are)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    lowered = str(value).strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true or false)")


def default_sam_address() -> str:
    """``$I2P_SAM_ADDRESS``, or ``127.0.0.1:7656``."""
    return os.environ.get("I2P_SAM_ADDRESS") or DEFAULT_SAM_ADDRESS


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_sam_address(address: str) -> tuple[str, int]:
    """``"host:port"`` -> ``(host, port)``; raises ValueError naming the problem."""
    if not isinstance(address, str):
        raise ValueError(f"SAM address must be host:port, not {address!r}")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"SAM address must be host:port, not {address!r}")
    return host.strip("[]"), int(port)


def enc_types(options: Mapping[str, str]) -> list[int]:
    """The lease-set encryption types *options* ask for (``i2cp.leaseSetEncType``:
    comma-separated numbers of :data:`LEASE_SET_ENC_TYPES`), checked."""
    value = options.get("i2cp.leaseSetEncType")
    if value is None:
        return []
    numbers = [item.strip() for item in value.split(",")]
    if not all(n.isdigit() and int(n) in LEASE_SET_ENC_TYPES for n in numbers):
        known = ", ".join(f"{n} ({name})" for n, name in LEASE_SET_ENC_TYPES.items())
        raise ValueError(f"i2cp.leaseSetEncType is a comma-separated list of encryption types: {known}; "
                         f"not {value!r}")
    return [int(n) for n in numbers]


def session_options(
    options: Mapping[str, object] | None = None,
    *,
    in_depth: int | None = None,
    out_depth: int | None = None,
) -> dict[str, str]:
    """The session options to send: defaults, then *options*, then depths, each checked.

    ``in_depth``/``out_depth`` (the i2p.socket names) become
    ``inbound.length``/``outbound.length``.
    """
    merged = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        codec.check_token("option name", key)
        merged[key] = codec.check_value(f"option {key}", value)
    enc_types(merged)
    for name, key, value in (("in_depth", "inbound.length", in_depth),
                             ("out_depth", "outbound.length", out_depth)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 7:
                raise ValueError(f"{name} must be an integer from 0 to 7, not {value!r}")
            merged[key] = str(value)
    return merged


@dataclass(frozen=True)
class BridgeConfig:
    """How to reach one SAM bridge.

    :param sam_address: ``host:port`` (None: ``$I2P_SAM_ADDRESS`` or
        ``127.0.0.1:7656``, read when the bridge is first used).
    :param endpoint: instead of *sam_address*, any Twisted client endpoint that
        reaches the bridge.
    :param allow_remote: accept a *sam_address* that is not on this machine
        (SAM traffic, private keys included, is not encrypted).
    :param user: SAM 3.2 user name, for bridges with authentication on.
    :param password: its password (never shown in ``repr``).
    :param timeouts: command timeouts (None: the registry's, or the defaults).
    :param udp_port: the bridge's UDP port for datagrams (None: the
        dialect's offset from the TCP port, i.e. TCP port minus 1).
    :param launch: instead of an address or endpoint, the bridge of the
        router launched for this process
        (:meth:`~txi2p.registry.SessionRegistry.launched_router`, started
        at the first ``connect()``/``listen()`` that needs it): True, or
        its data directory.  The stream endpoints take it; nothing else
        (:meth:`SessionRegistry.bridge <txi2p.registry.SessionRegistry.bridge>`
        refuses it).

    Raises ValueError at once for a malformed address, a remote one
    without *allow_remote*, both *sam_address* and *endpoint*, a user
    without a password (or the other way round), or *launch* with any of
    the settings that name a bridge.
    """

    sam_address: str | None = None
    endpoint: IStreamClientEndpoint | None = None
    allow_remote: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeouts: Timeouts | None = None
    udp_port: int | None = None
    launch: bool | str | None = None

    def __post_init__(self) -> None:
        self._check_launch()
        if self.udp_port is not None:
            check_port("udp_port", self.udp_port, allow_zero=True)
        if self.sam_address is not None and self.endpoint is not None:
            raise ValueError("give the SAM bridge's address or an endpoint that reaches it, not both")
        if self.sam_address is not None:
            self.check_address(self.sam_address)
        if (self.user is None) != (self.password is None):
            raise ValueError("SAM authentication needs both a user and a password")
        for what, value in (("user", self.user), ("password", self.password)):
            if value is not None and (not isinstance(value, str) or not value or "\n" in value):
                raise ValueError(f"the SAM {what} must be a non-empty one-line str")

    def _check_launch(self) -> None:
        launch = self.launch
        if launch is None or launch is False:
            object.__setattr__(self, "launch", None)
            return
        if isinstance(launch, os.PathLike):
            launch = os.fspath(launch)
            object.__setattr__(self, "launch", launch)
        if launch is not True and (not isinstance(launch, str) or not launch):
            raise ValueError(f"launch must be True or a data directory, not {launch!r}")
        naming = (self.sam_address, self.endpoint, self.user, self.udp_port, self.allow_remote)
        if naming != (None, None, None, None, False):
            raise ValueError("launch uses the router launched for this process: give it, or the SAM bridge's "
                             "address, endpoint, credentials, allow_remote or udp_port, not both")

    @classmethod
    def given(cls, config: BridgeConfig | None, sam_address: str | None = None,
              endpoint: IStreamClientEndpoint | None = None, allow_remote: bool = False,
              user: str | None = None, password: str | None = None,
              timeouts: Timeouts | None = None) -> BridgeConfig:
        """*config*, or one made of the settings one by one (not both).

        Only for ``SAMBridge``'s loose signature (txi2p/bridge.py); no
        front door uses it.
        """
        if config is None:
            return cls(sam_address, endpoint, bool(allow_remote), user, password, timeouts)
        if (sam_address, endpoint, user, password, timeouts, allow_remote) != (None, None, None, None, None, False):
            raise ValueError("pass a BridgeConfig (bridge=) or the bridge's settings one by one, not both")
        return cls.from_loose(config)

    @classmethod
    def from_loose(cls, config: BridgeConfig | None, sam_address: str | None = None) -> BridgeConfig:
        """*config*, or the bridge at *sam_address* (not both): for the classic
        signatures that take either (``txi2p.socket``, ``txi2p.sam``)."""
        if config is None:
            return cls(sam_address)
        if not isinstance(config, BridgeConfig):
            raise TypeError(f"bridge must be a txi2p.config.BridgeConfig, not {config!r}")
        if sam_address is not None:
            raise ValueError("pass a BridgeConfig (bridge=) or the bridge's address, not both")
        return config

    def check_address(self, address: str) -> tuple[str, int]:
        """``(host, port)`` of *address*, if it may be used with these settings."""
        host, port = parse_sam_address(address)
        if not self.allow_remote and not is_loopback(host):
            raise ValueError(
                f"the SAM bridge address {address} is not on this machine: SAM traffic (private keys "
                "included) is not encrypted. To use it anyway, pass allow_remote=True (allowRemote=true "
                "in endpoint strings, --allow-remote for twistd i2ptunnel), with a user and password "
                "if the bridge requires them")
        return host, port

    @property
    def where(self) -> str:
        """The bridge's address (the default one resolved now), or its endpoint's ``repr``."""
        if self.endpoint is not None:
            return repr(self.endpoint)
        return self.sam_address or default_sam_address()

    @property
    def identity(self) -> str:
        """The bridge as one comparable string: its endpoint's ``repr``, or
        ``host:port`` in lower case with ``localhost`` as ``127.0.0.1``."""
        if self.endpoint is not None:
            return repr(self.endpoint)
        host, port = parse_sam_address(self.where)
        return f"{'127.0.0.1' if host.lower() in ('localhost', 'localhost.') else host.lower()}:{port}"

    @property
    def is_local(self) -> bool:
        """The bridge is on this machine (so the router can send packets back to us)."""
        return self.endpoint is None and is_loopback(parse_sam_address(self.where)[0])

    @property
    def has_credentials(self) -> bool:
        return self.user is not None

    def with_defaults(self, timeouts: Timeouts | None) -> BridgeConfig:
        """This config, with *timeouts* where it names none."""
        return self if self.timeouts is not None or timeouts is None else replace(self, timeouts=timeouts)


@dataclass(frozen=True)
class SessionConfig:
    """What a session is: compared when its name (or key file) is asked for again.

    Made with :meth:`build` from a front door's settings (checked once,
    defaults added) or :meth:`make` from values already complete.
    """

    nickname: str | None = None
    keyfile: str | None = None
    style: str = "STREAM"
    options: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may hold client keys
    signature_type: int | str = DEFAULT_SIGNATURE_TYPE
    #: close the session when its last user leaves (None: the front door's default)
    auto_close: bool | None = field(default=None, compare=False)

    @classmethod
    def make(cls, nickname: str | None = None, keyfile: str | None = None, style: str = "STREAM",
             options: Mapping[str, str] | None = None,
             signature_type: int | str = DEFAULT_SIGNATURE_TYPE,
             auto_close: bool | None = None) -> SessionConfig:
        """From values already checked (options as they go on the wire)."""
        return cls(nickname or None, keyfile or None, style,
                   tuple(sorted((options or {}).items())), signature_type, auto_close)

    @classmethod
    def build(cls, *, nickname: str | None = None, keyfile: object = None, style: str = "STREAM",
              options: Mapping[str, object] | None = None, in_depth: int | None = None,
              out_depth: int | None = None, signature_type: int | str = DEFAULT_SIGNATURE_TYPE,
              auto_close: bool | None = None) -> SessionConfig:
        """From a front door's settings: each checked here, the default options added."""
        if nickname is not None:
            codec.check_token("session", nickname)
        if style not in codec.STYLES:
            raise ValueError(f"style must be one of {', '.join(sorted(codec.STYLES))}, not {style!r}")
        if isinstance(signature_type, bool) or not isinstance(signature_type, (int, str)):
            raise ValueError(f"signature_type must be an integer or a name, not {signature_type!r}")
        codec.check_value("signature_type", signature_type)
        return cls.make(nickname, str(keyfile) if keyfile else None, style,
                        session_options(options, in_depth=in_depth, out_depth=out_depth),
                        signature_type, None if auto_close is None else bool(auto_close))

    @classmethod
    def for_door(cls, config: SessionConfig | None, styles: tuple[str, ...], auto_close: bool) -> SessionConfig:
        """*config* (None: a default one of the first of *styles*) as a front
        door takes it: its style one of *styles*, *auto_close* the door's
        default where the config says nothing of it."""
        if config is None:
            config = cls.build(style=styles[0])
        if not isinstance(config, SessionConfig):
            raise TypeError(f"session_config must be a txi2p.config.SessionConfig, not {config!r}")
        if config.style not in styles:
            raise ValueError(f"this needs a session of style {' or '.join(styles)}, not {config.style}")
        return config if config.auto_close is not None else replace(config, auto_close=auto_close)

    @property
    def option_map(self) -> dict[str, str]:
        return dict(self.options)

    def with_options(self, extra: Mapping[str, str]) -> SessionConfig:
        """This session with *extra* options on top (client keys read from files)."""
        if not extra:
            return self
        return replace(self, options=tuple(sorted({**dict(self.options), **extra}.items())))

    def differences(self, other: SessionConfig) -> list[str]:
        """The settings (by attribute name) in which *other* differs."""
        return [name for name in ("keyfile", "style", "options", "signature_type")
                if getattr(self, name) != getattr(other, name)]
