"""Stand-ins for tests that need no router.

:func:`fake_private_key` makes a structurally valid private-key blob (the
bytes are random, not real keys): enough for code that parses, stores and
compares destinations.
"""

from __future__ import annotations

import os
import struct

from txi2p.address import CRYPTO_TYPES, SIGNATURE_TYPES, PrivateKey

__all__ = ["fake_destination_bytes", "fake_private_key"]


def fake_destination_bytes(signature_type: int = 7, crypto_type: int = 0) -> bytes:
    """Random bytes shaped like a destination with a key certificate."""
    if signature_type == 0 and crypto_type == 0:
        return os.urandom(384) + b"\x00\x00\x00"
    sig_len = SIGNATURE_TYPES[signature_type][1]
    crypto_len = CRYPTO_TYPES[crypto_type][1]
    excess = max(0, sig_len - 128) + max(0, crypto_len - 256)
    cert = struct.pack(">BHHH", 5, 4 + excess, signature_type, crypto_type) + os.urandom(excess)
    return os.urandom(384) + cert


def fake_private_key(signature_type: int = 7, crypto_type: int = 0) -> PrivateKey:
    """A :class:`~txi2p.address.PrivateKey` of random (not real) key bytes."""
    dest = fake_destination_bytes(signature_type, crypto_type)
    private = os.urandom(CRYPTO_TYPES[crypto_type][2]) + os.urandom(SIGNATURE_TYPES[signature_type][2])
    return PrivateKey.from_bytes(dest + private)
