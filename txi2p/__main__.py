"""``python -m txi2p``: the ``txi2p`` command (see :mod:`txi2p.command`)."""

from txi2p.installation import command

command()
