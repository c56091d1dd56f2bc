"""Where daisynet keeps what it builds or downloads: the user's cache directory, never the
checkout or the installed package.

The root is ``$DAISYNET_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/daisynet``, else
``~/.cache/daisynet`` (the XDG base directory rules, on every system). Builds go into folders
named by a hash of their inputs, filled atomically: each run builds in a scratch folder beside
the final one and renames it into place, so a run never sees a half-built folder and, of two
runs racing for the same folder, the loser uses the winner's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE_DIR_ENV = "DAISYNET_CACHE_DIR"


def cache_root() -> Path:
    """The folder all of daisynet's caches live in (not created here)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "daisynet"


def cache_dir(kind: str) -> Path:
    """The cache folder for one kind of build or download, e.g. "native" (not created here)."""
    return cache_root() / kind


def fill_atomically(target: Path, fill: Callable[[Path], None]) -> Path:
    """``target``, calling ``fill(scratch)`` to make it first if it does not exist: ``fill``
    writes into an empty scratch folder beside ``target``, which is then renamed to it. If
    another run got there first, its folder is kept and this run's scratch thrown away; if
    ``fill`` raises, nothing is left behind."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial",
                                    dir=target.parent))
    try:
        fill(scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def content_key(parts: list[Path], flags: list[str]) -> str:
    """A short hash of ``parts`` (names and bytes) and ``flags``, so a changed source, header or
    flag gets a fresh build and an unchanged one is reused."""
    digest = hashlib.sha256(" ".join(flags).encode())
    for part in parts:
        digest.update(part.name.encode() + part.read_bytes())
    return digest.hexdigest()[:16]


def cached_build(kind: str, parts: list[Path], flags: list[str],
                 build: Callable[[Path], None]) -> Path:
    """cache_dir(kind)/HASH of ``parts`` and ``flags``, built by ``build(folder)`` on first
    use (see fill_atomically). ``build`` must not bake its folder's path into what it makes:
    the folder is renamed afterwards."""
    return fill_atomically(cache_dir(kind) / content_key(parts, flags), build)
