"""Checks a compiled seccomp program before the fork server keeps it for its workers.

The daemon compiles each profile's program once with libseccomp (linux/seccomp_policy.py) and
hands the fork server the bytes when it starts it; each worker's pid 1 loads them
(linux/pid1.c). The fork server, whose address space every worker inherits, never imports
libseccomp's binding: neither the library nor the binding is mapped into a run, and the fork
server's anonymous memory is ~150 kB smaller (6356 -> 6208 kB measured).
"""

from __future__ import annotations

import errno

BPF_INSTRUCTION = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
BPF_MAXINSNS = 4096


def check(program: bytes) -> bytes:
    """A program the kernel can take: whole instructions, at least one, at most BPF_MAXINSNS."""
    if not program or len(program) % BPF_INSTRUCTION or len(program) // BPF_INSTRUCTION > BPF_MAXINSNS:
        raise OSError(errno.EINVAL, f"seccomp: {len(program)} bytes are not a BPF program of at most "
                                    f"{BPF_MAXINSNS} instructions")
    return program
