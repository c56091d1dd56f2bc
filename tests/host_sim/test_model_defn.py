"""The model_defn.h format version: written into every header, checked by the reader."""

import re

import numpy as np
import pytest

from daisynet.host_sim.model_defn import (
    MODEL_DEFN_FORMAT_VERSION,
    Architecture,
    HeaderError,
    read_header,
    render_header,
)
from daisynet.host_sim.quantize import quantize_spec, random_spec

VERSION_LINE = re.compile(r"inline constexpr std::uint32_t kModelDefnFormatVersion = \d+;\n")


def header_text(number_format: str) -> str:
    spec = random_spec(Architecture(2, (3, 3), 2), seed=1)
    if number_format != "float32":
        calibration = np.random.default_rng(0).uniform(-1.0, 1.0, (256, 2))
        spec = quantize_spec(spec, number_format, calibration)
    return render_header(spec, "test")


@pytest.mark.parametrize("number_format", ["float32", "q15", "q7"])
def test_every_header_states_the_format_version_and_reads_back(number_format, tmp_path):
    text = header_text(number_format)
    assert VERSION_LINE.findall(text) == [
        f"inline constexpr std::uint32_t kModelDefnFormatVersion = {MODEL_DEFN_FORMAT_VERSION};\n"]
    (tmp_path / "model_defn.h").write_text(text)
    assert read_header(tmp_path / "model_defn.h").number_format == number_format


@pytest.mark.parametrize("number_format", ["float32", "q15"])
@pytest.mark.parametrize("version, message", [
    (MODEL_DEFN_FORMAT_VERSION + 1,
     f"model_defn.h format version {MODEL_DEFN_FORMAT_VERSION + 1} is newer than this daisynet "
     f"reads ({MODEL_DEFN_FORMAT_VERSION}); update daisynet"),
    (None, "no kModelDefnFormatVersion: not a daisynet model_defn.h, or one exported by an "
           "older daisynet; export the model again"),
])
def test_a_header_of_a_newer_or_no_format_version_is_refused_in_one_line(
        number_format, version, message, tmp_path):
    replacement = ("" if version is None else
                   f"inline constexpr std::uint32_t kModelDefnFormatVersion = {version};\n")
    header = tmp_path / "model_defn.h"
    header.write_text(VERSION_LINE.sub(replacement, header_text(number_format)))
    with pytest.raises(HeaderError) as err:
        read_header(header)
    assert str(err.value) == f"{header}: {message}"
