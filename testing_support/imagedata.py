"""Image data: one generator for the functional tests, the bench, the demo.

The bytes are the AES-128-CTR keystream of a fixed key.  They look random
and do not compress; they differ at every offset, so an image written at the
wrong offset, or into another image's volume, never compares equal; and
they are the same in every process and on every run, so a byte of an image
is computed again from its offset alone (nothing is kept to compare with)
and the benchmark caches the digests of its data files.  ``stream`` picks
one of 2**64 such sequences, each 2**68 bytes long.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers import modes

MiB = 1024 * 1024
KEY = b"glance-store-cin"  # 16 bytes: AES-128
_AES_BLOCK = 16
_STEP = 16 * MiB
SECTOR = 512
FIRST_PARTITION_SECTOR = 2048  # where partitioning tools start the first


def random_bytes(offset: int, size: int, stream: int = 0) -> bytes:
    """The ``size`` bytes at ``offset`` of the sequence ``stream``."""
    block, skip = divmod(offset, _AES_BLOCK)
    # Stream 0 begins at counter 1: the benchmark's data files (version 2)
    # hold that keystream.
    counter = (stream << 64) + 1 + block
    encryptor = Cipher(algorithms.AES(KEY),
                       modes.CTR(counter.to_bytes(16, "big"))).encryptor()
    return encryptor.update(bytes(skip + size))[skip:]


def random_pieces(offset: int, size: int, step: int = _STEP,
                  stream: int = 0) -> Iterator[bytes]:
    """``random_bytes(offset, size, stream)`` in pieces of ``step``."""
    end = offset + size
    while offset < end:
        n = min(step, end - offset)
        yield random_bytes(offset, n, stream)
        offset += n


def write_random(f: BinaryIO, size: int, offset: int = 0,
                 stream: int = 0) -> None:
    """Write ``size`` bytes of the sequence, from ``offset`` on, to ``f``."""
    for piece in random_pieces(offset, size, stream=stream):
        f.write(piece)


def master_boot_record(size: int, label: bytes = b"") -> bytes:
    """The first sector of a raw disk of ``size`` bytes: an MBR with one
    Linux partition from sector 2048 to the end; ``label`` in the boot
    code area (it is never run)."""
    if size // SECTOR <= FIRST_PARTITION_SECTOR:
        raise ValueError("a disk of %d bytes has no room for a partition"
                         % size)
    mbr = bytearray(SECTOR)
    mbr[:len(label)] = label
    entry = bytearray(16)
    entry[1:4] = b"\xfe\xff\xff"             # CHS start: use LBA
    entry[4] = 0x83                          # Linux
    entry[5:8] = b"\xfe\xff\xff"             # CHS end: use LBA
    entry[8:12] = FIRST_PARTITION_SECTOR.to_bytes(4, "little")
    entry[12:16] = (size // SECTOR - FIRST_PARTITION_SECTOR).to_bytes(
        4, "little")
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def disk_image(size: int, label: bytes = b"", step: int = _STEP
               ) -> Iterator[bytes]:
    """A raw disk image of ``size`` bytes, in pieces of at most ``step``:
    the MBR, zeros up to the partition, random data in the partition."""
    start = FIRST_PARTITION_SECTOR * SECTOR
    yield master_boot_record(size, label) + bytes(start - SECTOR)
    yield from random_pieces(start, size - start, step)
