"""Finds an executable's ELF interpreter (PT_INTERP): Landlock must allow executing it too."""

from __future__ import annotations

import os
import struct

PT_INTERP = 3


def interpreter_of(path: str) -> str | None:
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2:  # 64-bit only
            return None
        endian = "<" if ident[5] == 1 else ">"
        phoff, = struct.unpack_from(endian + "Q", ident, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", ident, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, p_offset, _, _, p_filesz = struct.unpack(endian + "IIQQQQ", f.read(40))
            if p_type == PT_INTERP:
                f.seek(p_offset)
                return f.read(p_filesz).rstrip(b"\0").decode()
    return None


def exec_closure(path: str) -> list[str]:
    """The real paths execve touches for `path`: the binary and its ELF interpreter."""
    real = os.path.realpath(path)
    out = [real]
    interp = interpreter_of(real)
    if interp:
        out.append(os.path.realpath(interp))
    return out
