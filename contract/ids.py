"""Random identifiers: UUID4 strings and hex nonces, from the OS's CSPRNG read in blocks.

A command takes four or five of them (request, command, message, audit entry, nonce); `uuid.uuid4`
costs a system call and a UUID object each (~2.5 us), a slice of a block read once per 256 of
them ~0.7 us. The bytes are the same `os.urandom` output; a child process after `fork` starts with
an empty block, so two processes never hand out the same bytes.
"""

from __future__ import annotations

import os

_BLOCK = 4096


class _Pool:
    __slots__ = ("block", "offset")

    def __init__(self) -> None:
        self.block = b""
        self.offset = 0

    def take(self, size: int) -> bytes:
        if size > _BLOCK:
            return os.urandom(size)
        start = self.offset
        if start + size > len(self.block):
            self.block, start = os.urandom(_BLOCK), 0
        self.offset = start + size
        return self.block[start : start + size]

    def forget(self) -> None:
        self.block, self.offset = b"", 0


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.forget)


def random_uuid() -> str:
    """A version-4 UUID in canonical form (36 characters, lowercase), as `str(uuid.uuid4())`."""
    raw = bytearray(_pool.take(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes as lowercase hex, as `secrets.token_hex(nbytes)`."""
    return _pool.take(nbytes).hex()
