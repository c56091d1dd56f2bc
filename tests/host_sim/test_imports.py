"""host_sim (and the model_defn contract in it) must run without training or Keras."""

import subprocess
import sys
from pathlib import Path

import host_sim

PROBE = """
import importlib, pkgutil, sys
import host_sim
for module in pkgutil.walk_packages(host_sim.__path__, "host_sim."):
    importlib.import_module(module.name)
print(" ".join(sorted(name for name in sys.modules
                      if name.split(".")[0] in ("training", "keras", "tensorflow"))))
"""


def test_importing_every_host_sim_module_leaves_training_and_keras_out():
    repo = Path(host_sim.__file__).parents[1]
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            cwd=repo, check=True)
    assert result.stdout.strip() == ""
