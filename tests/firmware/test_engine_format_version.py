"""The firmware engine compiles only against a model_defn.h of the format version it reads."""

import re
import subprocess
from pathlib import Path

import pytest

from daisynet.host_sim.model_defn import MODEL_DEFN_FORMAT_VERSION
from daisynet.host_sim.native import cmsis_source_dir
from tests.conftest import require_tool

pytestmark = pytest.mark.native

REPO = Path(__file__).resolve().parents[2]
VERSION = re.compile(r"(kModelDefnFormatVersion = )\d+;")


@pytest.mark.parametrize("edit, error", [
    (lambda text: text, None),
    (lambda text: VERSION.sub(rf"\g<1>{MODEL_DEFN_FORMAT_VERSION + 1};", text),
     "model_defn.h is of a newer format version than this engine reads"),
    (lambda text: VERSION.sub(rf"\g<1>{MODEL_DEFN_FORMAT_VERSION - 1};", text),
     "model_defn.h is of an older format version (or none): export the model again"),
    (lambda text: re.sub(r".*kModelDefnFormatVersion = .*\n", "", text),
     "model_defn.h is of an older format version (or none): export the model again"),
], ids=["current", "newer", "older", "missing"])
def test_the_engine_static_asserts_the_headers_format_version(edit, error, tmp_path):
    compiler = require_tool("g++")
    (tmp_path / "model_defn.h").write_text(
        edit((REPO / "firmware" / "model" / "model_defn.h").read_text()))
    (tmp_path / "probe.cc").write_text('#include "wavenet_engine.h"\n')
    cmsis = cmsis_source_dir()
    result = subprocess.run(
        [compiler, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
         "-D__GNUC_PYTHON__", f"-I{tmp_path}", f"-I{REPO / 'firmware' / 'core'}",
         f"-I{cmsis / 'Include'}", f"-I{cmsis / 'PrivateInclude'}", str(tmp_path / "probe.cc")],
        capture_output=True, text=True)
    if error is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0 and error in result.stderr
