"""Where and how commands write. Paths are checked before the work starts, so a bad output path
fails in one line up front, and no command ever writes over one of its own inputs. Every output
is written through ``atomic_output``: to a temporary file beside it, then renamed into place, so
a failure (a full disk, Ctrl-C, a crash) leaves any earlier file exactly as it was."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path


class OutputPathError(ValueError):
    """An output path that cannot or must not be written; the message names it and says why."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file (through links, ``..`` or relative paths)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_writable_folder(folder: str | Path) -> Path:
    """Proves a file can be written in ``folder``, or, if it is not there yet, that it can be
    created: in its nearest existing parent. Creates nothing, so a command refused later has
    changed nothing."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{existing}: is a file, not a folder")
    try:
        # os.access ignores root's privileges and some file systems (read-only mounts do
        # not), so writing a file is the only reliable test.
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".daisynet-probe-"):
            pass
    except OSError as err:
        what = "write there" if existing == folder else f"create it in {existing}"
        raise OutputPathError(f"{folder}: cannot {what} ({err.strerror or err})") from err
    return folder


def writable_folder(folder: str | Path) -> Path:
    """Creates ``folder`` if needed, once ``check_writable_folder`` has proved it can."""
    folder = check_writable_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"{folder}: cannot create the output folder "
                              f"({err.strerror or err})") from err
    return folder


def check_output_file(path: str | Path, inputs: Iterable[str | Path | None] = (),
                      replace: bool = True) -> Path:
    """``path`` if the command may write it: not a folder, not one of ``inputs``, in a folder
    it can write or create (``atomic_output`` creates it when it writes), and, with
    ``replace=False``, not there yet."""
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
    check_writable_folder(path.parent)
    return path


class OutputExistsError(OutputPathError):
    """``atomic_output(replace=False)`` found the file there at the moment of renaming (another
    run wrote it meanwhile)."""


class OutputWriteError(OSError):
    """Writing an output failed (a full disk, a lost mount, ...); the message names the file and
    says that any earlier file there is unchanged."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same suffix, so writers that go by the suffix
    work; its folder created if needed) to write the whole output to; on leaving without an
    exception it is flushed to disk and renamed to ``path``. On any exception, KeyboardInterrupt
    included, the temporary file is removed and ``path`` is untouched. With ``replace=False``
    an existing ``path`` is never replaced, also not one that appeared while writing: then
    ``OutputExistsError``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                                  suffix=f".partial{path.suffix}")
    except OSError as err:
        raise _write_failure(path, err) from err
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            _rename_without_replacing(temporary, path)
    except OSError as err:
        if isinstance(err, OutputWriteError):
            raise
        raise _write_failure(path, err) from err
    finally:
        temporary.unlink(missing_ok=True)


def _write_failure(path: Path, err: OSError) -> OutputWriteError:
    """``err`` as the one line a command prints: which output, why, and that nothing was lost."""
    earlier = "the earlier file is unchanged" if path.exists() else "nothing was written"
    failure = OutputWriteError(f"{path}: could not write it ({err.strerror or err}); {earlier}")
    failure.errno = err.errno
    return failure


def _rename_without_replacing(temporary: Path, path: Path) -> None:
    exists = OutputExistsError(f"{path}: already exists (written while this ran); nothing was "
                               f"replaced")
    try:
        os.link(temporary, path)  # fails if path exists: no window for a second writer
    except FileExistsError:
        raise exists from None
    except OSError:  # a file system without hard links: reserve the name, then replace it
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise exists from None
        os.replace(temporary, path)
    else:
        temporary.unlink()


def write_text(path: str | Path, text: str, replace: bool = True) -> Path:
    """Writes ``text`` to ``path`` atomically (see ``atomic_output``)."""
    with atomic_output(path, replace) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_texts(texts: dict[Path, str], replace: bool = True) -> None:
    """Writes each text to its path; all are renamed into place only once all
    are written, so a failure leaves every earlier file as it was, never a mismatched set."""
    with contextlib.ExitStack() as renames:
        for path, text in texts.items():
            renames.enter_context(atomic_output(path, replace)).write_text(text)


def write_bytes(path: str | Path, data: bytes, replace: bool = True) -> Path:
    """Writes ``data`` to ``path`` atomically (see ``atomic_output``)."""
    with atomic_output(path, replace) as temporary:
        temporary.write_bytes(data)
    return Path(path)
