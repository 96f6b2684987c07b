"""Private services: who may reach an encrypted lease set.

A private service (``I2PServerEndpoint(private=True)``, ``i2p:...:private=true``)
publishes an encrypted lease set: only those who know its
:meth:`~txi2p.address.Destination.b33` name can find it.  With per-client
authorization, knowing the name is not enough: each client also holds a
key the service lists.

Two kinds of client keys (``auth=``):

``psk``
    a pre-shared key: each client keeps a random 32-byte key, and the
    service lists the same key.
``dh``
    Diffie-Hellman (X25519): each client keeps a private key, and the
    service lists only its public key (:func:`client_public_key`), so the
    service's list gives nobody a way in.

Either way the service lists ``name:key`` lines (:func:`read_clients_file`)
and each client keeps its own key in a file of its own
(:func:`write_client_key`, :func:`read_client_key`), made by
:func:`new_client_key` (or ``txi2p clientkey``).  They become the routers'
I2CP options (:func:`service_options`, :func:`client_options`), which SAM
passes through; private keys are redacted wherever txi2p shows a command.

Files are written like destination key files: atomically, mode 0600.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from txi2p.address import BLINDED_SIGNATURE_TYPES, b64decode, b64encode, write_secret_file
from txi2p.errors import InvalidKey

__all__ = [
    "AUTH_TYPES",
    "ENCRYPTED_LEASE_SET",
    "SERVICE_OWN_CLIENT",
    "ClientKey",
    "PrivateService",
    "check_auth",
    "check_blindable",
    "client_line",
    "client_options",
    "client_public_key",
    "new_client_key",
    "read_client_key",
    "read_clients_file",
    "service_options",
    "write_client_key",
    "x25519",
]

#: ``auth=`` values -> ``i2cp.leaseSetAuthType``.
AUTH_TYPES = {"dh": "1", "psk": "2"}

#: ``i2cp.leaseSetType`` of an encrypted lease set: a private service.
ENCRYPTED_LEASE_SET = "5"

_KEY_BYTES = 32
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_client_key() -> str:
    """A new random client key, in I2P base64: a pre-shared key, or an
    X25519 private key (its public half is :func:`client_public_key`)."""
    return b64encode(os.urandom(_KEY_BYTES))


def client_public_key(key: str) -> str:
    """The X25519 public key (I2P base64) a service with ``auth=dh`` lists
    for the client holding private *key*."""
    return b64encode(x25519(b64decode(_check_key(key, "client key")), _X25519_BASE))


# X25519 (RFC 7748): the Montgomery ladder on Curve25519, in integers.
# Only client keys go through it, once each: speed does not matter here.
_P = 2**255 - 19
_A24 = 121665
_X25519_BASE = (9).to_bytes(32, "little")


def x25519(scalar: bytes, point: bytes) -> bytes:
    """RFC 7748's X25519 function: *scalar* times the curve point whose
    u-coordinate is *point* (both 32 bytes, little-endian)."""
    if len(scalar) != 32 or len(point) != 32:
        raise ValueError("X25519 takes a 32-byte scalar and a 32-byte point")
    k = int.from_bytes(scalar, "little")
    k = (k & ~7 & ~(1 << 255)) | (1 << 254)  # clamp
    x1 = int.from_bytes(point, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % _P, (x2 - z2) % _P
        aa, bb = a * a % _P, b * b % _P
        e = (aa - bb) % _P
        c, d = (x3 + z3) % _P, (x3 - z3) % _P
        da, cb = d * a % _P, c * b % _P
        x3, z3 = (da + cb) ** 2 % _P, x1 * (da - cb) ** 2 % _P
        x2, z2 = aa * bb % _P, e * (aa + _A24 * e) % _P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(32, "little")


def _check_key(key: str, where: str) -> str:
    key = key.strip()
    try:
        raw = b64decode(key)
    except InvalidKey:
        raise ValueError(f"{where}: a client key is 32 bytes in I2P base64") from None
    if len(raw) != _KEY_BYTES:
        raise ValueError(f"{where}: a client key is 32 bytes in I2P base64, this one is {len(raw)}")
    return key


def _check_name(name: str, where: str) -> str:
    if not _CLIENT_NAME.match(name):
        raise ValueError(f"{where}: a client name is 1 to 64 letters, digits, '.', '_' or '-', "
                         f"not {name[:70]!r}")
    return name


def check_auth(auth: str) -> str:
    """*auth* if it is a kind of client keys offered (:data:`AUTH_TYPES`)."""
    if auth not in AUTH_TYPES:
        raise ValueError(f"auth must be one of {', '.join(sorted(AUTH_TYPES))}, not {auth!r}")
    return auth


def check_blindable(signature_type: int) -> None:
    """Refuse a private service whose destination's key cannot be blinded."""
    if signature_type not in BLINDED_SIGNATURE_TYPES:
        raise ValueError(
            f"a private service (i2cp.leaseSetType={ENCRYPTED_LEASE_SET}) needs an Ed25519 (7) or RedDSA "
            f"(11) destination; this one's signature type is {signature_type}")


def client_line(name: str, key: str) -> str:
    """The ``name:key`` line a service's clients file lists a client by."""
    return f"{_check_name(name, 'clients')}:{_check_key(key, f'client {name!r}')}"


#: The name under which a service with ``auth=dh`` lists a key of its own.
SERVICE_OWN_CLIENT = "txi2p-service"


def service_options(clients: Mapping[str, str], auth: str = "psk") -> dict[str, str]:
    """The I2CP options of a private service that lets only *clients* in.

    *clients* maps each client's name (for the router's records) to its
    key: the pre-shared key (``psk``), or the client's public key
    (``dh``).  The result also asks for the encrypted lease set.
    """
    check_auth(auth)
    if not clients:
        raise ValueError("a private service with client authorization needs at least one client")
    options = {"i2cp.leaseSetType": ENCRYPTED_LEASE_SET, "i2cp.leaseSetAuthType": AUTH_TYPES[auth]}
    listed = sorted((name, key.strip()) for name, key in clients.items())
    # Java I2P's router opens the service's own lease set, to check it,
    # with a key it lists (the session's i2cp.leaseSetPrivKey); without
    # one it refuses the session ("Error decrypting leaseset from
    # client").  i2pd does not need it.  A PSK service holds its clients'
    # keys; a DH service holds none of their private keys, so it lists a
    # key pair of its own, new for each session.
    if auth == "dh":
        own = new_client_key()
        if SERVICE_OWN_CLIENT in clients:
            raise ValueError(f"{SERVICE_OWN_CLIENT!r} is the name the service lists its own key by")
        listed.append((SERVICE_OWN_CLIENT, client_public_key(own)))
    else:
        own = listed[0][1]
    for i, (name, key) in enumerate(listed):
        # the name goes in base64, as the I2CP specification has it (i2pd
        # ignores it; Java decodes it)
        checked_name, _, checked_key = client_line(name, key).partition(":")
        options[f"i2cp.leaseSetClient.{auth}.{i}"] = f"{b64encode(checked_name.encode('ascii'))}:{checked_key}"
    options["i2cp.leaseSetPrivKey"] = own
    return options


def client_options(key: str) -> dict[str, str]:
    """The I2CP option that lets a client's session reach a service listing
    *key* (``psk``) or its public half (``dh``)."""
    return {"i2cp.leaseSetPrivKey": _check_key(key, "client key")}


def read_clients_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """A service's clients: ``name:key`` lines (blank lines and ``#``
    comments allowed); the keys are pre-shared keys or public keys, as the
    service's ``auth`` says."""
    clients: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text("ascii").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}, line {number}"
        name, colon, key = line.partition(":")
        if not colon:
            raise ValueError(f"{where}: a client is NAME:KEY")
        if name in clients:
            raise ValueError(f"{where}: client {name!r} is listed twice")
        clients[_check_name(name, where)] = _check_key(key, where)
    if not clients:
        raise ValueError(f"{path} lists no client")
    return clients


def read_client_key(path: str | os.PathLike[str]) -> str:
    """A client key from its file (one line of I2P base64)."""
    return _check_key(Path(path).read_text("ascii"), str(path))


def write_client_key(path: str | os.PathLike[str], key: str) -> None:
    """Write a client *key* to *path*: atomically, mode 0600; never overwrites."""
    if Path(path).exists():
        raise ValueError(f"{path} exists: a client key file is never overwritten")
    write_secret_file(path, _check_key(key, "client key") + "\n")


@dataclass(frozen=True)
class ClientKey:
    """A client's key for private services that list it: the key itself,
    or the file holding it (read at each ``connect()``), not both."""

    key: str | None = field(default=None, repr=False)
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.key is None) == (self.file is None):
            raise ValueError("a client key is given as key= or file=: one of them, not both")
        if self.key is not None:
            client_options(self.key)  # checked now

    def options(self) -> dict[str, str]:
        """The session option carrying the key (the file read now)."""
        return client_options(self.key if self.key is not None else read_client_key(str(self.file)))


@dataclass(frozen=True)
class PrivateService:
    """A private service: an encrypted lease set, reached by its b33 name only.

    :param clients: only these clients may reach it: name -> key.
    :param clients_file: instead, a file of ``name:key`` lines (read at
        each ``listen()``).
    :param auth: the kind of client keys: ``"psk"`` (the default) or ``"dh"``.
    """

    clients: Mapping[str, str] | None = field(default=None, repr=False)
    clients_file: str | None = None
    auth: str = "psk"

    def __post_init__(self) -> None:
        if self.clients is not None and self.clients_file is not None:
            raise ValueError("pass clients or clients_file, not both")
        check_auth(self.auth)
        self.static_options()  # checked now

    def static_options(self) -> dict[str, str]:
        """The client options known now (none for a clients file)."""
        return service_options(self.clients, self.auth) if self.clients is not None else {}

    def file_options(self) -> dict[str, str]:
        """The client options of the clients file, read now."""
        return service_options(read_clients_file(str(self.clients_file)), self.auth) if self.clients_file else {}
