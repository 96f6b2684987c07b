"""The errors of :mod:`txi2p.socket`, and the mapping of txi2p's own to them."""

from __future__ import annotations

from txi2p import errors as _errors


class Error(_errors.TxI2PError, OSError):
    """Base class for all errors of this module."""


class BlockError(Error, BlockingIOError):
    """The call would have blocked (non-blocking mode)."""


class ClosedError(Error):
    """A command was used on a socket that is closed."""


class Timeout(Error, TimeoutError):
    """The call did not complete within the socket's timeout."""


class NetworkError(Error):
    """A network error within I2P: ``args == (errtag, errdesc)``.

    ``errtag`` is the SAM error string (``"CANT_REACH_PEER"``...),
    ``errdesc`` a human-readable description.
    """

    def __init__(self, errtag: str, errdesc: str) -> None:
        super().__init__(errtag, errdesc)
        self.errtag = errtag
        self.errdesc = errdesc

    def __str__(self) -> str:
        return f"{self.errtag}: {self.errdesc}"


def _network_error(exc: BaseException) -> Error:
    if isinstance(exc, Error):
        return exc
    if isinstance(exc, _errors.SAMError):
        return NetworkError(exc.result, str(exc))
    if isinstance(exc, _errors.TxI2PError):
        return NetworkError(type(exc).__name__, str(exc))
    return NetworkError("I2P_ERROR", f"{type(exc).__name__}: {exc}")
