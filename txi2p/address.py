"""I2P addresses and keys: base64, destinations, ``.b32.i2p`` names, key files.

* :func:`b64encode` / :func:`b64decode` — I2P's base64 alphabet (``-~``).
* :class:`Destination` — a public destination, parsed and checked;
  :attr:`Destination.b32` and :meth:`Destination.b33` (the longer name of
  a private service: an encrypted lease set) are computed locally.
* :class:`PrivateKey` — the private-key blob SESSION STATUS and DEST
  GENERATE return; never shown in ``repr()``.
* :func:`read_key_file` / :func:`write_key_file` — key files.
* :class:`I2PAddress` — an ``IAddress`` for transports on I2P.
* :class:`HostsFile` — a ``hosts.txt`` resolver.

Key file format: the I2P-base64 private-key blob as one ASCII line (the
format txi2p 0.3.x wrote, so existing files keep their address).  Files
holding the raw binary blob (i2pd's ``.dat`` key files) are read too.
Files are written atomically with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from twisted.internet.interfaces import IAddress
from zope.interface import implementer

from txi2p.errors import InvalidKey, TxI2PError

__all__ = [
    "BLINDED_SIGNATURE_TYPES",
    "CRYPTO_TYPES",
    "SIGNATURE_TYPES",
    "B33Flags",
    "Destination",
    "HostsFile",
    "I2PAddress",
    "KeyFileError",
    "NameRecord",
    "PrivateKey",
    "b32_from_hash",
    "b33_flags",
    "b64decode",
    "b64encode",
    "is_b32_name",
    "read_key_file",
    "signature_type_code",
    "write_key_file",
    "write_secret_file",
]

_B64_ALPHABET = re.compile(r"^[A-Za-z0-9~-]*={0,2}$")
_B32_NAME = re.compile(r"^[a-z2-7]{52,}\.b32\.i2p$")

#: Signature type code -> (name, public key length, private key length, signature length).
SIGNATURE_TYPES: dict[int, tuple[str, int, int, int]] = {
    0: ("DSA_SHA1", 128, 20, 40),
    1: ("ECDSA_SHA256_P256", 64, 32, 64),
    2: ("ECDSA_SHA384_P384", 96, 48, 96),
    3: ("ECDSA_SHA512_P521", 132, 66, 132),
    4: ("RSA_SHA256_2048", 256, 512, 256),
    5: ("RSA_SHA384_3072", 384, 768, 384),
    6: ("RSA_SHA512_4096", 512, 1024, 512),
    7: ("EdDSA_SHA512_Ed25519", 32, 32, 64),
    8: ("EdDSA_SHA512_Ed25519ph", 32, 32, 64),
    9: ("GOSTR3410_GOSTR3411_256_CRYPTO_PRO_A", 64, 32, 64),
    10: ("GOSTR3410_TC26_A_512_GOSTR3411_512", 128, 64, 128),
    11: ("RedDSA_SHA512_Ed25519", 32, 32, 64),
}

#: Encryption type code -> (name, public key length, private key length).
CRYPTO_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("ELGAMAL", 256, 256),
    1: ("EC_P256", 64, 32),
    2: ("EC_P384", 96, 48),
    3: ("EC_P521", 132, 66),
    4: ("ECIES_X25519", 32, 32),
}

_CERT_NULL = 0
_CERT_KEY = 5


def signature_type_code(value: int | str) -> int:
    """A signature type's number, from its number or its name (any case).

    Raises ValueError naming the known types for anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value in SIGNATURE_TYPES:
        return value
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and int(value) in SIGNATURE_TYPES:
            return int(value)
        for code, (name, *_rest) in SIGNATURE_TYPES.items():
            if name.lower() == value.lower():
                return code
    raise ValueError(f"unknown signature type {value!r}; use one of "
                     f"{', '.join(f'{code} ({name})' for code, (name, *_r) in SIGNATURE_TYPES.items())}")


def _invalid(text: str) -> InvalidKey:
    return InvalidKey(message=text, command="parse key", local=True)


def b64encode(data: bytes) -> str:
    """Encode in I2P's base64 (``+/`` replaced by ``-~``)."""
    return base64.b64encode(data, altchars=b"-~").decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Decode I2P base64 strictly; raises :class:`~txi2p.errors.InvalidKey`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise _invalid("not I2P base64 (non-ASCII bytes)") from None
    if not _B64_ALPHABET.match(text) or len(text) % 4 == 1:
        raise _invalid(f"not I2P base64: {_abbrev(text)}")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-~", validate=True)
    except binascii.Error as e:
        raise _invalid(f"not I2P base64 ({e}): {_abbrev(text)}") from None


#: Signature types whose key a private service (encrypted lease set) can be
#: blinded from, with the blinded key's type: Ed25519 (7) and RedDSA (11)
#: both blind to RedDSA.  (i2pd also blinds ECDSA keys; not checked here.)
BLINDED_SIGNATURE_TYPES: dict[int, int] = {7: 11, 11: 11}

_B33_SECRET = 0x02
_B33_CLIENT_AUTH = 0x04


class B33Flags(NamedTuple):
    """What a private service's name says a client needs to find it."""

    secret: bool
    client_auth: bool


def b33_flags(name: str) -> B33Flags | None:
    """The flags of a private service's ``.b32.i2p`` name (None for any other name)."""
    if not is_b32_name(name):
        return None
    text = name.lower()[:-len(".b32.i2p")]
    if len(text) < 56:  # a destination hash's name: 52 characters
        return None
    try:
        data = _fold_b33_checksum(base64.b32decode(text.upper() + "=" * (-len(text) % 8)))
    except binascii.Error:
        return None
    return B33Flags(bool(data[0] & _B33_SECRET), bool(data[0] & _B33_CLIENT_AUTH))


def _fold_b33_checksum(data: bytes) -> bytes:
    """XOR the CRC-32 of a b33's key (``data[3:]``) into its first three
    bytes: done to write a b33 name, and again (XOR undoes itself) to read one."""
    folded = bytearray(data)
    crc = binascii.crc32(data[3:])
    for i in range(3):
        folded[i] ^= (crc >> (8 * i)) & 0xFF
    return bytes(folded)


def b32_from_hash(digest: bytes) -> str:
    """The ``.b32.i2p`` name of a 32-byte destination hash (or of any bytes)."""
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=") + ".b32.i2p"


def is_b32_name(name: str) -> bool:
    """True for ``<52+ base32 chars>.b32.i2p``."""
    return bool(_B32_NAME.match(name.lower()))


def _abbrev(text: str) -> str:
    # Only the start: for a private-key blob that is the public part, while
    # its end is secret key material.
    return repr(text) if len(text) <= 16 else f"{text[:12]!r}... ({len(text)} characters)"


@dataclass(frozen=True, eq=False)
class Destination:
    """A public I2P destination: keys and certificate.

    Build one with :meth:`from_base64` or :meth:`parse`; both check the
    structure (key certificate, key lengths) and raise
    :class:`~txi2p.errors.InvalidKey` when it is wrong.
    """

    raw: bytes = field(repr=False)
    signature_type: int = 0
    crypto_type: int = 0

    @classmethod
    def parse(cls, data: bytes) -> tuple[Destination, int]:
        """Parse a destination at the start of *data*: ``(dest, length)``."""
        if len(data) < 387:
            raise _invalid(f"a destination is at least 387 bytes, got {len(data)}")
        cert_type, cert_len = struct.unpack_from(">BH", data, 384)
        end = 387 + cert_len
        if len(data) < end:
            raise _invalid(f"certificate of {cert_len} bytes is cut short")
        sig_type, crypto_type = 0, 0
        if cert_type == _CERT_KEY:
            if cert_len < 4:
                raise _invalid("key certificate shorter than 4 bytes")
            sig_type, crypto_type = struct.unpack_from(">HH", data, 387)
            if sig_type not in SIGNATURE_TYPES:
                raise _invalid(f"unknown signature type {sig_type}")
            if crypto_type not in CRYPTO_TYPES:
                raise _invalid(f"unknown encryption type {crypto_type}")
            excess = max(0, SIGNATURE_TYPES[sig_type][1] - 128) + max(0, CRYPTO_TYPES[crypto_type][1] - 256)
            if cert_len != 4 + excess:
                raise _invalid(
                    f"key certificate of {cert_len} bytes, expected {4 + excess} "
                    f"for signature type {sig_type}"
                )
        elif cert_type == _CERT_NULL:
            if cert_len != 0:
                raise _invalid("NULL certificate with a payload")
        else:  # I2P defines no other certificate a destination may carry
            raise _invalid(f"unknown certificate type {cert_type}: a destination carries only a NULL or KEY certificate")
        return cls(bytes(data[:end]), sig_type, crypto_type), end

    @classmethod
    def from_bytes(cls, data: bytes) -> Destination:
        """A destination that is exactly *data*."""
        dest, end = cls.parse(data)
        if end != len(data):
            raise _invalid(f"{len(data) - end} extra bytes after the destination")
        return dest

    @classmethod
    def from_base64(cls, text: str | bytes) -> Destination:
        """A destination from its I2P-base64 form."""
        return cls.from_bytes(b64decode(text))

    @property
    def base64(self) -> str:
        return b64encode(self.raw)

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(self.raw).digest()

    @property
    def b32(self) -> str:
        """The ``xxx.b32.i2p`` name, computed locally."""
        return b32_from_hash(self.hash)

    def b33(self, *, secret: bool = False, client_auth: bool = False) -> str:
        """The ``.b32.i2p`` name of this destination as a private service.

        A session with an encrypted lease set (``i2cp.leaseSetType=5``) is
        reached by this longer name, not by :attr:`b32`: flags, the
        signature type, the blinded type and the signing public key, with
        a CRC-32 of the key folded into the first three bytes, in base32.
        *secret* and *client_auth* set the flags saying that a lookup needs
        a secret or a per-client key.  Only Ed25519 and RedDSA keys can be
        blinded (:data:`BLINDED_SIGNATURE_TYPES`); others raise
        :class:`~txi2p.errors.InvalidKey`.
        """
        blinded = BLINDED_SIGNATURE_TYPES.get(self.signature_type)
        if blinded is None:
            name = SIGNATURE_TYPES[self.signature_type][0]
            raise InvalidKey(
                message=f"a destination of signature type {self.signature_type} ({name}) cannot be a "
                        "private service: only Ed25519 (7) and RedDSA (11) keys can be blinded",
                command="b33", local=True)
        flags = (_B33_SECRET if secret else 0) | (_B33_CLIENT_AUTH if client_auth else 0)
        return b32_from_hash(_fold_b33_checksum(bytes([flags, self.signature_type, blinded])
                                                + self.signing_public_key))

    @property
    def signing_public_key(self) -> bytes:
        length = SIGNATURE_TYPES[self.signature_type][1]
        if length <= 128:
            return self.raw[384 - length:384]
        return self.raw[256:384] + self.raw[391:391 + length - 128]

    def __str__(self) -> str:
        return self.base64

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Destination):
            return self.raw == other.raw
        if isinstance(other, str):  # txi2p 0.3.x kept destinations as strings
            return self.base64 == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"<Destination {self.b32} sig={self.signature_type}>"


@dataclass(frozen=True)
class NameRecord:
    """What a router knows of a name: its destination and the options its
    lease set publishes (e.g. service records), from
    ``session.lookup(name, options=True)``."""

    name: str
    destination: Destination
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, repr=False)
class PrivateKey:
    """A destination with its private keys (the SAM private-key blob).

    ``repr()`` and ``str()`` never show the key material; use
    :attr:`base64` to send it to a router or write it to a key file.
    """

    destination: Destination
    blob: bytes

    @classmethod
    def from_bytes(cls, blob: bytes) -> PrivateKey:
        dest, offset = Destination.parse(blob)
        crypto_len = CRYPTO_TYPES[dest.crypto_type][2]
        sig_len = SIGNATURE_TYPES[dest.signature_type][2]
        end = offset + crypto_len + sig_len
        if len(blob) < end:
            raise _invalid(
                f"private key blob cut short: {len(blob)} bytes, need at least {end}"
            )
        signing_key = blob[offset + crypto_len:end]
        if not any(signing_key):
            end = cls._offline_end(blob, end, dest)
        if len(blob) != end:
            raise _invalid(f"{len(blob) - end} extra bytes after the private key")
        return cls(dest, bytes(blob))

    @staticmethod
    def _offline_end(blob: bytes, offset: int, dest: Destination) -> int:
        # Offline signature: expires(4) type(2) transient key, signature,
        # then the transient signing private key.
        if len(blob) < offset + 6:
            raise _invalid("offline signature block cut short")
        (transient_type,) = struct.unpack_from(">H", blob, offset + 4)
        if transient_type not in SIGNATURE_TYPES:
            raise _invalid(f"unknown transient signature type {transient_type}")
        _, pub_len, priv_len, _ = SIGNATURE_TYPES[transient_type]
        sig_len = SIGNATURE_TYPES[dest.signature_type][3]
        end = offset + 6 + pub_len + sig_len + priv_len
        if len(blob) < end:
            raise _invalid("offline signature block cut short")
        return end

    @classmethod
    def from_base64(cls, text: str | bytes) -> PrivateKey:
        return cls.from_bytes(b64decode(text))

    @property
    def base64(self) -> str:
        return b64encode(self.blob)

    @property
    def b32(self) -> str:
        return self.destination.b32

    def __repr__(self) -> str:
        return f"<PrivateKey for {self.destination.b32}>"

    __str__ = __repr__


class KeyFileError(TxI2PError, ValueError):
    """A key file exists but does not hold a valid private key."""


def read_key_file(path: str | os.PathLike[str]) -> PrivateKey | None:
    """The private key in *path*, or None if the file does not exist.

    Raises :class:`KeyFileError` (naming the file) if the file exists but
    is empty, truncated or corrupt; such a file is never overwritten.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise KeyFileError(f"cannot read key file {str(path)!r}: {e.strerror}") from e
    text = data.strip()
    if not text:
        raise KeyFileError(f"key file {str(path)!r} is empty")
    errors = []
    try:
        return PrivateKey.from_base64(text)
    except InvalidKey as e:
        errors.append(e.message)
    try:
        return PrivateKey.from_bytes(data)
    except InvalidKey as e:
        errors.append(e.message)
    raise KeyFileError(
        f"key file {str(path)!r} does not hold a valid I2P private key "
        f"({'; '.join(errors)}); it was left untouched"
    )


def write_key_file(path: str | os.PathLike[str], key: PrivateKey) -> None:
    """Write *key* to *path* atomically (temp file, fsync, rename), mode 0600."""
    write_secret_file(path, key.base64 + "\n")


def write_secret_file(path: str | os.PathLike[str], text: str) -> None:
    """Write *text* to *path* atomically (temp file, fsync, rename), mode 0600.

    A reader sees the old file or the new one, never a part: a crash at any
    moment leaves at most a ``.tmp`` file beside it.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


@implementer(IAddress)
class I2PAddress:
    """An address on I2P: a destination, a host name and an I2P port.

    ``I2PAddress(destination, host=None, port=None)``, the signature of
    txi2p 0.3.x: *destination* is a :class:`Destination`, its base64 form
    or another I2PAddress (whose host is then the default).

    :ivar destination: the full :class:`Destination` (None where only a
        name is known).  It compares equal to its base64 string too.
    :ivar host: the name the address was reached by, or the ``.b32.i2p``
        name of the destination.
    :ivar port: the I2P virtual port, or None.
    """

    __slots__ = ("destination", "host", "port")

    def __init__(self, destination: Destination | str | I2PAddress | None,
                 host: str | None = None, port: int | None = None) -> None:
        if isinstance(destination, I2PAddress):
            host = host or destination.host
            destination = destination.destination
        elif isinstance(destination, str):
            destination = Destination.from_base64(destination)
        if destination is None and not host:
            raise ValueError("an I2PAddress needs a destination or a host")
        self.destination: Destination | None = destination
        self.host: str = host or (destination.b32 if destination is not None else "")
        self.port: int | None = int(port) if port else None

    @property
    def b32(self) -> str | None:
        return self.destination.b32 if self.destination is not None else (
            self.host if is_b32_name(self.host) else None
        )

    def _identity(self) -> tuple[object, int | None]:
        # the destination; where only a name is known, the name
        return (self.destination if self.destination is not None else self.host.lower(), self.port)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, I2PAddress):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        # txi2p 0.3.x's form, which callers' logs and tests know
        port = f", {self.port}" if self.port is not None else ""
        return f"I2PAddress({self.host}{port})"


class HostsFile:
    """A ``hosts.txt`` resolver (``name=base64destination`` lines).

    Read lazily and again when the file changes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._mtime: float | None = None
        self._entries: dict[str, Destination] = {}

    @classmethod
    def default_paths(cls) -> list[Path]:
        """``$I2P_HOSTS_TXT``, then ``~/.i2p/hosts.txt``."""
        paths = []
        env = os.environ.get("I2P_HOSTS_TXT")
        if env:
            paths.append(Path(env))
        paths.append(Path.home() / ".i2p" / "hosts.txt")
        return paths

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            self._entries = {}
            self._mtime = None
            return
        if mtime == self._mtime:
            return
        entries = {}
        for name, dest in self._parse(self.path.read_text(errors="replace")):
            entries[name] = dest
        self._entries = entries
        self._mtime = mtime

    @staticmethod
    def _parse(text: str) -> Iterator[tuple[str, Destination]]:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            name, sep, value = line.partition("=")
            if not sep or not name:
                continue
            value = value.split("#!", 1)[0].strip()
            try:
                yield name.strip().lower(), Destination.from_base64(value)
            except InvalidKey:
                continue

    def lookup(self, name: str) -> Destination | None:
        """The destination for *name*, or None."""
        self._load()
        return self._entries.get(name.lower())
