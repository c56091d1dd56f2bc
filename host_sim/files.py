"""Where commands write: checked before the work starts, so a bad output path fails in one line
up front, and no command ever writes over one of its own inputs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


class OutputPathError(ValueError):
    """An output path that cannot or must not be written; the message names it and says why."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file (through links, ``..`` or relative paths)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def writable_folder(folder: str | Path) -> Path:
    """Creates ``folder`` if needed and proves a file can be written in it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"{folder}: cannot create the output folder "
                              f"({err.strerror or err})") from err
    try:
        # os.access ignores root's privileges and some file systems (read-only mounts do
        # not), so writing a file is the only reliable test.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".daisynet-probe-"):
            pass
    except OSError as err:
        raise OutputPathError(f"{folder}: cannot write there ({err.strerror or err})") from err
    return folder


def check_output_file(path: str | Path, inputs: Iterable[str | Path | None] = (),
                      replace: bool = True) -> Path:
    """``path`` if the command may write it: not a folder, not one of ``inputs``, in a folder
    it can write (created if needed), and, with ``replace=False``, not there yet."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; give a file name")
    for source in inputs:
        if source is not None and same_file(path, source):
            raise OutputPathError(f"{path}: is also an input of this command; write the output "
                                  "somewhere else")
    if path.exists() and not replace:
        raise OutputPathError(f"{path}: already exists")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{path}: is read-only; make it writable or write elsewhere")
    writable_folder(path.parent)
    return path
