import json

import numpy as np
import pytest
import soundfile

from daisynet.host_sim.daisy_target import BLOCK_FRAMES, SAMPLE_RATE_HZ
from daisynet.training.builtin_data import (
    CHANNELS,
    HIGHEST_HZ,
    INPUTS,
    LEVEL,
    LOWEST_HZ,
    TARGET,
    make_waveshaper_dataset,
    shape_index,
    shaped,
)
from daisynet.training.dataset import (
    FORMAT_VERSION,
    Dataset,
    DatasetError,
    describe,
    load_dataset,
    wav_container,
)


def small_dataset(frames: int = 4800) -> Dataset:
    rng = np.random.default_rng(1)
    samples = np.stack(
        [0.5 * np.sin(np.arange(frames) * 0.05), rng.uniform(0, 1, frames)], axis=1
    ).astype(np.float32)
    return Dataset(samples, 48_000, ["audio_in_1", "knob_1"], source={"test": True})


def test_save_and_load_round_trip_is_exact(tmp_path):
    original = small_dataset()
    wav, sidecar = original.save(tmp_path / "take1")
    assert wav.name == "take1.wav" and sidecar.name == "take1.json"
    loaded = load_dataset(tmp_path / "take1.wav", required_channels=["knob_1"])
    assert loaded.channels == original.channels
    assert loaded.sample_rate == 48_000
    assert np.array_equal(loaded.samples, original.samples)
    assert loaded.source == {"test": True}
    assert loaded.warnings == []
    assert "audio_in_1, knob_1" in describe(loaded)


def test_wav_container_switches_to_rf64_past_what_32_bit_sizes_hold():
    assert wav_container(0) == "WAV"
    assert wav_container(2**32 - 2**16) == "WAV"
    assert wav_container(2**32 - 2**16 + 1) == "RF64"
    assert wav_container(5 * 2**30) == "RF64"


def test_a_capture_too_large_for_a_wav_is_written_and_read_as_rf64(tmp_path, monkeypatch):
    """Writing 4 GiB here is too slow: the limit is lowered so a small dataset crosses it."""
    monkeypatch.setattr("daisynet.training.dataset.WAV_MAX_DATA_BYTES", 1000)
    original = small_dataset()
    wav, _ = original.save(tmp_path / "long")
    assert wav.read_bytes()[:4] == b"RF64"
    loaded = load_dataset(wav)
    assert np.array_equal(loaded.samples, original.samples)


def test_json_path_and_bare_stem_load_the_same(tmp_path):
    small_dataset().save(tmp_path / "take")
    assert load_dataset(tmp_path / "take.json").frames == load_dataset(tmp_path / "take").frames


def edit_sidecar(tmp_path, **changes):
    small_dataset().save(tmp_path / "d")
    path = tmp_path / "d.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return tmp_path / "d.wav"


def test_missing_sidecar_is_named(tmp_path):
    small_dataset().save(tmp_path / "d")
    (tmp_path / "d.json").unlink()
    with pytest.raises(DatasetError, match=r"d\.json: sidecar missing"):
        load_dataset(tmp_path / "d.wav")


def test_missing_wav_is_named(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nothing.wav")


def test_required_channel_missing_lists_what_exists(tmp_path):
    small_dataset().save(tmp_path / "d")
    with pytest.raises(DatasetError, match=r"missing channel 'knob_2'.*audio_in_1, knob_1"):
        load_dataset(tmp_path / "d.wav", required_channels=["knob_2"])


def test_wav_with_extra_unnamed_channel(tmp_path):
    wav = edit_sidecar(tmp_path, channels=["audio_in_1"])
    with pytest.raises(DatasetError, match="extra unnamed channel"):
        load_dataset(wav)


def test_sidecar_naming_more_channels_than_the_wav(tmp_path):
    wav = edit_sidecar(tmp_path, channels=["audio_in_1", "knob_1", "knob_2"])
    with pytest.raises(DatasetError, match="missing channel.*knob_2"):
        load_dataset(wav)


def test_repeated_channel_names(tmp_path):
    wav = edit_sidecar(tmp_path, channels=["knob_1", "knob_1"])
    with pytest.raises(DatasetError, match="repeat: knob_1"):
        load_dataset(wav)


def test_length_mismatch(tmp_path):
    wav = edit_sidecar(tmp_path, frames=9999)
    with pytest.raises(DatasetError, match="holds 4800 frames but d.json says 9999"):
        load_dataset(wav)


def test_sidecar_rate_disagrees_with_wav(tmp_path):
    wav = edit_sidecar(tmp_path, sample_rate=44_100)
    with pytest.raises(DatasetError, match="48000 Hz but d.json says 44100 Hz"):
        load_dataset(wav)


def test_wrong_rate_for_the_caller(tmp_path):
    small_dataset().save(tmp_path / "d")
    with pytest.raises(DatasetError, match="expected 96000 Hz"):
        load_dataset(tmp_path / "d.wav", sample_rate=96_000)


def test_non_finite_samples_name_the_channel_and_frame(tmp_path):
    dataset = small_dataset()
    dataset.samples[1234, 1] = np.nan
    dataset.samples[2000, 1] = np.inf
    dataset.save(tmp_path / "d")
    with pytest.raises(DatasetError, match=r"'knob_1' has 2 non-finite.*frame 1234"):
        load_dataset(tmp_path / "d.wav")


def test_silent_channel_is_a_warning_unless_required(tmp_path):
    dataset = small_dataset()
    dataset.samples[:, 1] = 0.0
    dataset.save(tmp_path / "d")
    loaded = load_dataset(tmp_path / "d.wav", required_channels=["audio_in_1"])
    assert any("'knob_1' is silent" in w for w in loaded.warnings)
    with pytest.raises(DatasetError, match="'knob_1' is silent"):
        load_dataset(tmp_path / "d.wav", required_channels=["knob_1"])


def test_clipped_audio_channel_warns_at_the_patch_full_scale(tmp_path):
    # The Patch's audio callback sees +-2.0 at the codec's full scale (DaisyDuino postgain 0.5).
    dataset = small_dataset()
    dataset.samples[:, 0] = np.clip(6 * dataset.samples[:, 0], -2, (2**23 - 1) * 2.0**-22)
    dataset.save(tmp_path / "d")
    warnings = load_dataset(tmp_path / "d.wav").warnings
    assert any("'audio_in_1' looks clipped" in w for w in warnings)


def test_a_loud_patch_capture_below_full_scale_is_not_clipped(tmp_path):
    dataset = small_dataset()
    dataset.samples[:, 0] = np.clip(3 * dataset.samples[:, 0], -1.5, 1.5)
    dataset.save(tmp_path / "d")
    assert not any("clipped" in w for w in load_dataset(tmp_path / "d.wav").warnings)


def test_corrupt_json_and_unreadable_wav(tmp_path):
    small_dataset().save(tmp_path / "d")
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_dataset(tmp_path / "d.wav")
    small_dataset().save(tmp_path / "e")
    (tmp_path / "e.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(DatasetError, match="cannot read as audio"):
        load_dataset(tmp_path / "e.wav")


def test_builtin_dataset_is_deterministic_and_shaped_like_a_capture(tmp_path):
    first = make_waveshaper_dataset(seconds=2.0, seed=7)
    again = make_waveshaper_dataset(seconds=2.0, seed=7)
    other = make_waveshaper_dataset(seconds=2.0, seed=8)
    assert np.array_equal(first.samples, again.samples)
    assert not np.array_equal(first.samples, other.samples)
    assert first.channels == CHANNELS and first.sample_rate == SAMPLE_RATE_HZ
    assert first.frames == 2 * SAMPLE_RATE_HZ
    assert first.samples.dtype == np.float32
    for knob in ("knob_1", "knob_2"):
        held = first.channel(knob).reshape(-1, BLOCK_FRAMES)
        assert np.all(held == held[:, :1]), f"{knob} changes inside an audio block"
        assert held.min() >= 0.0 and held.max() <= 1.0
    # Both selector positions occur, so every shape is in the data.
    shapes = shape_index(first.channel("knob_1"), first.channel("knob_2"))
    assert set(np.unique(shapes)) == {0, 1, 2, 3}
    first.save(tmp_path / "builtin")
    loaded = load_dataset(tmp_path / "builtin.wav", required_channels=[*INPUTS, TARGET])
    assert loaded.warnings == []


@pytest.mark.parametrize("seed", [
    0, 1, 2,
    # The decks cover every few seconds of the take; the three 2 s chunks of a dealt split
    # (issue 24) are not covered by design, and seed 3's validation chunks glide below 800 Hz.
    pytest.param(3, marks=pytest.mark.xfail(strict=True, reason="no top octave in validation")),
    4])
def test_every_split_of_the_builtin_dataset_holds_every_octave_and_shape(seed):
    """Glide targets and shapes are dealt from decks, so the 6 s validation and test splits of
    the demo's 60 s see all of them (drawn independently, seed 1's validation split had no
    pitch above 800 Hz)."""
    from daisynet.training.windows import dealt_splits

    dataset = make_waveshaper_dataset(seconds=60.0, seed=seed)
    triangle = dataset.channel("audio_in_1")
    # The triangle's slope is 4 * LEVEL * frequency per second: its pitch, from one sample on.
    pitch = np.abs(np.diff(triangle)) * SAMPLE_RATE_HZ / (4 * LEVEL)
    shapes = shape_index(dataset.channel("knob_1"), dataset.channel("knob_2"))
    for name, parts in dealt_splits(dataset.frames, dataset.sample_rate).items():
        in_split = np.concatenate([pitch[part.start : part.stop - 1] for part in parts])
        octaves = np.log2(in_split[(in_split > LOWEST_HZ) & (in_split < HIGHEST_HZ)] / LOWEST_HZ)
        assert set(octaves.astype(int)) == {0, 1, 2, 3, 4}, name
        in_split = np.concatenate([shapes[part.start : part.stop] for part in parts])
        shares = np.bincount(in_split, minlength=4) / len(in_split)
        assert shares.min() > 0.1, (name, shares)


def test_builtin_target_follows_the_selectors():
    phase = np.linspace(0, 1, 9, endpoint=False)
    sine = shaped(phase, np.zeros(9, dtype=np.int64))
    square = shaped(phase, np.full(9, 2))
    assert np.allclose(sine, np.cos(2 * np.pi * phase))
    assert set(np.unique(square)) == {-1.0, 1.0}
    ramp = shaped(phase, np.ones(9, dtype=np.int64))
    assert np.all(np.diff(ramp) < 0)
    with pytest.raises(ValueError):
        make_waveshaper_dataset(seconds=0)


def test_soundfile_sees_float32(tmp_path):
    small_dataset().save(tmp_path / "d")
    assert soundfile.info(tmp_path / "d.wav").subtype == "FLOAT"


# --- malformed files are one clear error naming the file (issue 10, findings 11, 12) --------


def plain_wavs(tmp_path):
    """Broken plain WAVs (no sidecar), by what is wrong with them."""
    soundfile.write(tmp_path / "full.wav", np.zeros((1000, 2), np.float32), 48_000,
                    subtype="FLOAT")
    full = (tmp_path / "full.wav").read_bytes()
    files = {
        "empty": b"",
        "text": b"this is not audio\n",
        "header-only": full[: len(full) - 1000 * 8],
        "truncated": full[: len(full) - 400 * 8],
    }
    for name, content in files.items():
        (tmp_path / f"{name}.wav").write_bytes(content)
    (tmp_path / "folder.wav").mkdir()
    return ["empty", "text", "header-only", "truncated", "folder"]


def test_broken_plain_wavs_are_refused_with_the_file_name(tmp_path):
    from daisynet.training.dataset import read_wav

    messages = {}
    for name in plain_wavs(tmp_path):
        with pytest.raises(DatasetError) as err:
            read_wav(tmp_path / f"{name}.wav")
        assert f"{name}.wav" in str(err.value)
        messages[name] = str(err.value)
    assert "is a folder" in messages["folder"]
    assert "holds no audio frames" in messages["header-only"]
    assert "announces 1000 frames, the file holds 600" in messages["truncated"]
    assert read_wav(tmp_path / "full.wav")[0].shape == (1000, 2)


@pytest.mark.parametrize("edit, message", [
    ({"channels": [1, 2]}, "'channels' must be a list of channel names"),
    ({"channels": "audio_in_1,knob_1"}, "'channels' must be a list of channel names"),
    ({"source": ["a list"]}, "'source' must be a JSON object"),
    ({"sample_rate": "48000"}, "'sample_rate' must be a whole number of at least 1"),
    ({"frames": 4.5}, "'frames' must be a whole number of at least 0"),
])
def test_sidecar_values_of_the_wrong_type_are_named(tmp_path, edit, message):
    _, sidecar = small_dataset().save(tmp_path / "take")
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | edit))
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path / "take")
    sidecar.write_text("[1, 2]")
    with pytest.raises(DatasetError, match="expected a JSON object, got list"):
        load_dataset(tmp_path / "take")


def test_a_newer_format_version_is_refused_in_one_line_naming_both(tmp_path):
    wav = edit_sidecar(tmp_path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(DatasetError) as err:
        load_dataset(wav)
    message = str(err.value)
    assert "\n" not in message and "d.json" in message
    assert f"format_version {FORMAT_VERSION + 1} is newer than this daisynet reads " \
           f"({FORMAT_VERSION}); update daisynet" in message


@pytest.mark.parametrize("edit, message", [
    ({"format": None}, "format is null, not 'daisynet-dataset'"),
    ({"format": "other-dataset"}, "format is \"other-dataset\", not 'daisynet-dataset'"),
    ({"format_version": None}, "format_version must be a whole number of at least 1, got null"),
    ({"format_version": "1"}, "format_version must be a whole number of at least 1, got \"1\""),
])
def test_a_missing_or_unknown_format_is_refused_in_one_line(tmp_path, edit, message):
    wav = edit_sidecar(tmp_path, **edit)
    sidecar = tmp_path / "d.json"
    data = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    with pytest.raises(DatasetError) as err:
        load_dataset(wav)
    assert "\n" not in str(err.value) and "d.json" in str(err.value)
    assert message in str(err.value)


def test_values_the_patch_never_delivers_are_named_not_called_clipped(tmp_path):
    """Issue 22, item 20: knobs outside 0..1, audio far beyond the Patch's +-2."""
    dataset = small_dataset()
    dataset.samples[:, 0] *= 8 / np.max(np.abs(dataset.samples[:, 0]))  # audio peaking at 8
    dataset.samples[:10, 1] = 1.5  # a knob above 1
    dataset.save(tmp_path / "d")
    warnings = load_dataset(tmp_path / "d.wav").warnings
    assert any("'audio_in_1' peaks at 8, beyond the Patch's full scale of +-2" in w
               for w in warnings), warnings
    assert not any("clipped" in w for w in warnings)
    assert any("'knob_1' spans" in w and "the Patch's controls give 0..1" in w
               for w in warnings), warnings
