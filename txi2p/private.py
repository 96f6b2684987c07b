"""Private services: who may reach an encrypted lease set.

A private service (``I2PServerEndpoint(private=True)``, ``i2p:...:private=true``)
publishes an encrypted lease set: only those who know its
:meth:`~txi2p.address.Destination.b33` name can find it.  With per-client
authorization, knowing the name is not enough: each client also holds a
key the service lists.

This module holds the pre-shared-key (PSK) flavour: the service lists
``name:key`` lines (:func:`read_clients_file`), each client keeps its own
32-byte key in a file of its own (:func:`write_client_key`,
:func:`read_client_key`).  They become the routers' I2CP options
(:func:`service_options`, :func:`client_options`), which SAM passes
through; the keys are redacted wherever txi2p shows a command.

Files are written like destination key files: atomically, mode 0600.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from txi2p.address import BLINDED_SIGNATURE_TYPES, b64decode, b64encode, write_secret_file
from txi2p.errors import InvalidKey

__all__ = [
    "AUTH_TYPES",
    "ENCRYPTED_LEASE_SET",
    "check_auth",
    "check_blindable",
    "client_line",
    "client_options",
    "new_client_key",
    "read_client_key",
    "read_clients_file",
    "service_options",
    "write_client_key",
]

#: ``auth=`` values -> ``i2cp.leaseSetAuthType``.  (Diffie-Hellman
#: authorization, type 1, needs X25519 keys; not offered yet.)
AUTH_TYPES = {"psk": "2"}

#: ``i2cp.leaseSetType`` of an encrypted lease set: a private service.
ENCRYPTED_LEASE_SET = "5"

_KEY_BYTES = 32
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_client_key() -> str:
    """A new random client key, in I2P base64."""
    return b64encode(os.urandom(_KEY_BYTES))


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


def service_options(clients: Mapping[str, str], auth: str = "psk") -> dict[str, str]:
    """The I2CP options of a private service that lets only *clients* in.

    *clients* maps each client's name (for the router's records) to its
    key.  The result also asks for the encrypted lease set.
    """
    check_auth(auth)
    if not clients:
        raise ValueError("a private service with client authorization needs at least one client")
    options = {"i2cp.leaseSetType": ENCRYPTED_LEASE_SET, "i2cp.leaseSetAuthType": AUTH_TYPES[auth]}
    listed = sorted(clients.items())
    for i, (name, key) in enumerate(listed):
        # the name goes in base64, as the I2CP specification has it (i2pd
        # ignores it; Java decodes it)
        checked_name, _, checked_key = client_line(name, key).partition(":")
        options[f"i2cp.leaseSetClient.{auth}.{i}"] = f"{b64encode(checked_name.encode('ascii'))}:{checked_key}"
    # Java I2P's router opens the service's own lease set, to check it,
    # with a key it lists; without one it refuses the session ("Error
    # decrypting leaseset from client").  i2pd does not need it.
    options["i2cp.leaseSetPrivKey"] = listed[0][1].strip()
    return options


def client_options(key: str) -> dict[str, str]:
    """The I2CP option that lets a client's session reach a service listing *key*."""
    return {"i2cp.leaseSetPrivKey": _check_key(key, "client key")}


def read_clients_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """A service's clients: ``name:key`` lines (blank lines and ``#`` comments allowed)."""
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
