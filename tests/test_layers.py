"""The package's layers import downward only: host_sim <- training <- tools.

Two checks, since either alone misses a case: every import statement of every module (also the
ones inside functions, which run only when the function does), and a fresh interpreter that
imports every module of a layer and must find no module of a higher layer (or Keras, below
training) loaded afterwards."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import daisynet.host_sim
import daisynet.tools
import daisynet.training

LAYERS = ("host_sim", "training", "tools")
# What each layer must not load, beyond the daisynet layers above it: host_sim (the model_defn
# contract, the engines, the simulator) runs without Keras or TensorFlow.
FORBIDDEN_EXTRAS = {"host_sim": ("keras", "tensorflow"), "training": (), "tools": ()}
PACKAGES = {"host_sim": daisynet.host_sim, "training": daisynet.training, "tools": daisynet.tools}


def layer_folder(layer: str) -> Path:
    return Path(PACKAGES[layer].__file__).parent


def forbidden_for(layer: str) -> tuple[str, ...]:
    above = LAYERS[LAYERS.index(layer) + 1:]
    return tuple(f"daisynet.{name}" for name in above) + FORBIDDEN_EXTRAS[layer]


def module_name(layer: str, path: Path) -> str:
    parts = path.relative_to(layer_folder(layer)).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("daisynet", layer, *parts))


def imported_names(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names.append((node.lineno, base))
    return names


def upward_imports(layer: str, folder: Path | None = None) -> list[str]:
    folder = folder or layer_folder(layer)
    found = []
    for path in sorted(folder.rglob("*.py")):
        module = module_name(layer, path) if folder == layer_folder(layer) else path.stem
        for line, name in imported_names(path, module):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden_for(layer)):
                found.append(f"{path.name}:{line} imports {name}")
    return found


PROBE = """
import importlib, json, pkgutil, sys
forbidden, package = sys.argv[1].split(","), sys.argv[2]
root = importlib.import_module(package)
offenders = {}
for info in pkgutil.walk_packages(root.__path__, package + "."):
    before = set(sys.modules)
    importlib.import_module(info.name)
    new = [name for name in set(sys.modules) - before
           if any(name == bad or name.startswith(bad + ".") for bad in forbidden)]
    if new:
        offenders[info.name] = sorted(new)[:3]
print(json.dumps(offenders))
"""


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_statement_points_up(layer):
    assert upward_imports(layer) == []


@pytest.mark.parametrize("layer", LAYERS)
def test_importing_a_whole_layer_in_a_fresh_interpreter_loads_nothing_above_it(layer):
    with tempfile.TemporaryDirectory() as outside:  # not the checkout: no stray `tools` on path
        result = subprocess.run(
            [sys.executable, "-c", PROBE, ",".join(forbidden_for(layer)), f"daisynet.{layer}"],
            capture_output=True, text=True, cwd=outside, check=True)
    assert json.loads(result.stdout) == {}


def test_the_statement_check_catches_an_upward_import_even_inside_a_function(tmp_path):
    (tmp_path / "engine.py").write_text(
        "def render():\n    from daisynet.training.dataset import load_dataset\n")
    assert upward_imports("host_sim", tmp_path) == [
        "engine.py:2 imports daisynet.training.dataset"]
