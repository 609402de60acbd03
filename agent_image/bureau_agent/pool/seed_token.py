"""The pool token of a qemu clone, read from the last block of its own seed disk at resume time.

Why not a file (issue 9): a token that cloud-init writes from the user-data lands on the
template's root disk, in cloud-init's copies of the user-data and in the template's RAM, and the
seed it came from stayed attached to every clone, so root inside an assigned desk could read it.
Instead the template's seed carries no token at all (its last block is zeros: a template refuses
every resume). Each prepared clone gets its own copy of that seed with a single-use random token
in the last block; the unassigned agent reads it with ``O_DIRECT`` when a resume arrives (so no
page cache holds it, and the template's cached view of its own seed cannot answer), and the
control plane zeroes that block again right after the resume. What the desk keeps is a seed
without any token, on this boot and on every later cold boot.

The block layout is shared with the control plane (``orchestrator.pool.seed``):
``MAGIC`` + the token + ``\\n``, zero-padded to ``BLOCK`` bytes.
"""

from __future__ import annotations

import contextlib
import mmap
import os

BLOCK = 4096
MAGIC = b"BUREAU-POOL-TOKEN/1\n"
#: The seed disk of a clone as the guest sees it (root = vda, data = vdb, seed = vdc).
SEED_DEVICE = "/dev/vdc"


class SeedTokenError(Exception):
    """The seed disk could not be read."""


def parse_block(block: bytes) -> str:
    """The token in ``block``, or "" when it carries none (a template, or a scrubbed seed)."""
    if not block.startswith(MAGIC):
        return ""
    token, newline, _ = block[len(MAGIC) :].partition(b"\n")
    if not newline or not token:
        return ""
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        return ""


def read_seed_token(device: str = SEED_DEVICE) -> str:
    """The token in the last ``BLOCK`` bytes of ``device`` ("" when none), read past the cache.

    ``O_DIRECT`` needs an aligned buffer (an anonymous mmap is page aligned); a file system that
    refuses ``O_DIRECT`` (tmpfs, in tests) is read the ordinary way.
    """
    try:
        try:
            fd = os.open(device, os.O_RDONLY | os.O_DIRECT)
        except OSError:
            fd = os.open(device, os.O_RDONLY)
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            if size < BLOCK:
                return ""
            with mmap.mmap(-1, BLOCK) as buffer:
                try:
                    count = os.preadv(fd, [buffer], size - BLOCK)
                except OSError:  # EINVAL: O_DIRECT accepted by open, refused by the read
                    with contextlib.suppress(OSError):
                        os.close(fd)
                    fd = os.open(device, os.O_RDONLY)
                    count = os.preadv(fd, [buffer], size - BLOCK)
                block = bytes(buffer[:count])
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
    except OSError as exc:
        raise SeedTokenError(f"cannot read the pool token from {device}: {exc.strerror}") from None
    return parse_block(block)
