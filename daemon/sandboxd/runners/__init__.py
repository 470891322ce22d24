"""Programs that run *inside* a worker: the init that waits for a run, and the Node runner.

They are passed to the interpreter as source text (`-c` / `-e`) so no host file has to be
mounted into the sandbox for them.
"""

from __future__ import annotations


def source(name: str) -> str:
    # Imported here: the zygote imports runners.init, and importlib.resources (pathlib,
    # tempfile…) would otherwise sit in every worker it forks.
    from importlib import resources

    return resources.files(__package__).joinpath(name).read_text()
