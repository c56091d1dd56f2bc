"""pip install of the project adds one top-level import name, daisynet, with every package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setuptools_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed_under_daisynet():
    config = setuptools_config()
    on_disk = set()
    for name, folder in config["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            on_disk.add(".".join((name, *relative)))
    assert sorted(config["packages"]) == sorted(on_disk)
    assert all(name.startswith("daisynet.") for name in config["packages"])


def test_the_wheel_installs_only_daisynet(tmp_path):
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ there
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in setuptools_config()["package-dir"].values():
        shutil.copytree(REPO / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("daisynet-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"daisynet"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "daisynet/tools/cli/__init__.py" in names
    assert any(name.endswith("model_defn.h.tmpl") for name in names)


def test_generic_names_do_not_import_outside_the_checkout(tmp_path):
    probe = ("import importlib.util, sys; names = ('tools', 'training', 'host_sim'); "
             "sys.exit(any(importlib.util.find_spec(name) for name in names))")
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=tmp_path)
