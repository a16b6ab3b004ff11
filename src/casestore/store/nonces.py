"""AES-GCM nonces for sealing personal fields, drawn from the OS in blocks.

Every sealed field needs a 96-bit nonce that is never used twice under the same data key
(AES-GCM loses both confidentiality and integrity on a repeat). Data keys are shared
across processes (read from the key table), so no counter can be kept per key: nonces
are random, as before, and a repeat under one key is as unlikely as 96 random bits
allow (about q²/2⁹⁷ after q fields sealed under that key).

What changes is only how the random bytes are fetched: one ``os.urandom`` call yields
:data:`BLOCK` bytes, handed out 12 at a time, instead of a system call per field (an
intake sealed three fields and wrapped a key with four calls more). That is sound because

- the bytes are the OS's CSPRNG output, and disjoint slices of it are as independent as
  separate calls' (the kernel's generator gives no different guarantee per call);
- a nonce needs to be unique, not secret (it is stored in the clear in the token), so
  bytes waiting in memory for their turn reveal nothing;
- no byte is handed out twice: each thread has its own block and offset, and a process
  forked from this one drops the block it inherited (``os.register_at_fork``), so a
  parent and its child never hand out the same bytes;
- keys are never taken from a block: a new data key, its id and the nonce that wraps it
  come from one ``os.urandom`` call of their own (``SubjectKeys._unwritten``), so no key
  material waits in memory before it is used.
"""

from __future__ import annotations

import os
import threading
from typing import Final

NONCE: Final = 12
#: Bytes per system call: 256 nonces.
BLOCK: Final = NONCE * 256


class _Block(threading.local):
    """This thread's unused random bytes (``data[at:]``)."""

    data = b""
    at = 0


_block = _Block()


def nonce() -> bytes:
    """12 bytes from the OS's CSPRNG that this process has handed out to no one else."""
    block = _block
    at = block.at
    if at + NONCE > len(block.data):
        block.data, at = os.urandom(BLOCK), 0
    block.at = at + NONCE
    return block.data[at : at + NONCE]


def _drop_after_fork() -> None:
    global _block
    _block = _Block()


os.register_at_fork(after_in_child=_drop_after_fork)
