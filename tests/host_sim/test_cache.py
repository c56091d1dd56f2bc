"""host_sim.cache: where caches live, and folders that are whole or absent."""

from pathlib import Path

import pytest

from daisynet.host_sim import cache


@pytest.fixture
def no_cache_env(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_the_cache_is_in_the_home_folder_by_default(no_cache_env, tmp_path):
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "daisynet"
    assert cache.cache_dir("native") == tmp_path / "home" / ".cache" / "daisynet" / "native"


def test_xdg_cache_home_is_honoured_and_a_relative_one_ignored(no_cache_env, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "daisynet"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG spec
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "daisynet"


def test_the_override_wins(no_cache_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert cache.cache_dir("m7") == tmp_path / "mine" / "m7"


def test_a_folder_is_filled_once_and_then_reused(tmp_path):
    calls = []

    def fill(folder: Path) -> None:
        calls.append(folder)
        (folder / "lib.so").write_text("built")

    target = tmp_path / "kind" / "abc"
    assert cache.fill_atomically(target, fill) == target
    assert cache.fill_atomically(target, fill) == target
    assert len(calls) == 1 and calls[0] != target  # built beside it, then renamed
    assert (target / "lib.so").read_text() == "built"
    assert [path.name for path in target.parent.iterdir()] == ["abc"]


def test_the_run_that_loses_the_race_uses_the_winners_folder(tmp_path):
    target = tmp_path / "abc"

    def winner(folder: Path) -> None:
        (folder / "lib.so").write_text("winner")

    def loser(folder: Path) -> None:
        (folder / "lib.so").write_text("loser")
        # Another run finishes the same folder while this one is still building.
        cache.fill_atomically(target, winner)

    assert cache.fill_atomically(target, loser) == target
    assert (target / "lib.so").read_text() == "winner"
    assert [path.name for path in tmp_path.iterdir()] == ["abc"]  # no scratch left


def test_a_failed_build_leaves_nothing(tmp_path):
    def failing(folder: Path) -> None:
        (folder / "half.o").write_text("half")
        raise RuntimeError("compiler said no")

    with pytest.raises(RuntimeError, match="compiler said no"):
        cache.fill_atomically(tmp_path / "abc", failing)
    assert list(tmp_path.iterdir()) == []


def test_the_key_follows_names_bytes_and_flags(tmp_path):
    source = tmp_path / "a.cc"
    source.write_text("int x;")
    key = cache.content_key([source], ["-O2"])
    assert key == cache.content_key([source], ["-O2"])
    assert key != cache.content_key([source], ["-O3"])
    source.write_text("int y;")
    assert key != cache.content_key([source], ["-O2"])


def test_cached_build_puts_the_folder_under_its_kind(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    source = tmp_path / "a.cc"
    source.write_text("int x;")
    folder = cache.cached_build("native", [source], [], lambda out: (out / "x").write_text(""))
    assert folder == tmp_path / "cache" / "native" / cache.content_key([source], [])
    assert (folder / "x").exists()
