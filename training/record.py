"""The training record, ``training.json``: what a trained .keras file does not say about itself.

One type, one writer (``TrainingRecord.write``), one reader (``TrainingRecord.read``) that
checks the format and refuses a newer version. ``daisynet train`` writes a record beside
``checkpoints/best.keras`` before training starts (so a killed run's checkpoint exports) and
one beside ``model.keras`` when it ends, with the run's results. Export reads the model's
names and rate from it, and quantized export finds the training dataset's validation and test
splits through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daisynet.host_sim.files import write_text
from daisynet.host_sim.versions import version_problem
from daisynet.training.dataset import Dataset

FORMAT = "daisynet-training-record"
# Version 2 (2026-12): a split is a list of ranges, chunks dealt across the recording
# (training/windows.py), no longer one range in time order.
FORMAT_VERSION = 2
RECORD_FILE = "training.json"
# The built-in generator's name without its version (training/builtin_data.py's GENERATOR).
BUILTIN_FAMILY = "daisynet builtin waveshaper"
# The keys TrainingRecord's own fields take in the JSON; every other key is one of its results.
IDENTITY_KEYS = ("format", "format_version", "model_file", "name", "sample_rate", "inputs",
                 "target", "dataset", "splits")


# What every training.json had before records carried a format (version 0, up to 2026-11).
LEGACY_KEYS = {"model_file", "name", "sample_rate", "inputs", "target"}


class TrainingRecordError(ValueError):
    """The record is unreadable, of another format or a newer version; the message says which."""


@dataclass
class DatasetRecord:
    """The dataset a model was trained on: enough to load it again and check it is the same."""

    path: str | None  # the WAV as train was given it; None for data made in memory
    resolved: str | None  # the same, absolute, where train ran (None if not known)
    frames: int
    sample_rate: int
    source: dict[str, Any] = field(default_factory=dict)  # the sidecar's provenance

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetRecord:
        path = dataset.path
        return cls(path=None if path is None else str(path),
                   resolved=None if path is None else str(path.resolve()),
                   frames=dataset.frames, sample_rate=dataset.sample_rate,
                   source=dict(dataset.source))


@dataclass
class TrainingRecord:
    """Names, rate, dataset and splits of a trained model, and (once training has ended) the
    run's results, which the JSON holds as top-level keys beside these."""

    name: str
    sample_rate: int
    inputs: list[str]
    target: str
    model_file: str  # the .keras file in the record's folder that it describes
    dataset: DatasetRecord | None = None
    # split name -> {"ranges": [[first_frame, frames], ...], "frames": their total}, plus the
    # split's scores once evaluated
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)  # where it was read from

    def to_json(self) -> dict[str, Any]:
        identity = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_file": self.model_file,
            "name": self.name,
            "sample_rate": self.sample_rate,
            "inputs": list(self.inputs),
            "target": self.target,
            "dataset": None if self.dataset is None else vars(self.dataset),
            "splits": self.splits,
        }
        return identity | {key: value for key, value in self.results.items()
                           if key not in IDENTITY_KEYS}

    def write(self, folder: str | Path) -> Path:
        """Write ``folder/training.json``; returns its path."""
        path = Path(folder) / RECORD_FILE
        return write_text(path, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> TrainingRecord:
        """Read and check a training.json; TrainingRecordError (one line) if it is not a
        record of this format, or of a newer version than this daisynet reads."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TrainingRecordError(f"{path}: not valid JSON ({err})") from err
        except OSError as err:
            raise TrainingRecordError(f"{path}: cannot read ({err.strerror or err})") from err
        if isinstance(data, dict) and "format" not in data and set(data) >= LEGACY_KEYS:
            data = _from_version_0(data)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TrainingRecordError(
                f"{path}: not a {FORMAT} (format_version {FORMAT_VERSION}); train the model "
                "again, or move the file aside (export then takes --inputs, --target and "
                "--sample-rate)")
        problem = version_problem(data.get("format_version"), FORMAT_VERSION, "training record")
        if problem:
            raise TrainingRecordError(f"{path}: {problem}")
        if data["format_version"] < 2:
            data = _from_version_1(data, path)
        inputs = _typed(data, "inputs", list, path)
        if not all(isinstance(name, str) for name in inputs):
            raise TrainingRecordError(f"{path}: 'inputs' must be a list of channel names, got "
                                      f"{json.dumps(inputs)[:60]}")
        dataset = data.get("dataset")
        try:
            dataset = None if dataset is None else DatasetRecord(**dataset)
        except TypeError as err:
            raise TrainingRecordError(f"{path}: 'dataset' is not a dataset record "
                                      f"({err})") from err
        return cls(
            name=_typed(data, "name", str, path),
            sample_rate=_typed(data, "sample_rate", int, path),
            inputs=inputs,
            target=_typed(data, "target", str, path),
            dataset=dataset,
            splits=_typed(data, "splits", dict, path),
            model_file=_typed(data, "model_file", str, path),
            results={key: value for key, value in data.items() if key not in IDENTITY_KEYS},
            path=path,
        )

    @classmethod
    def beside(cls, model_path: str | Path) -> TrainingRecord | None:
        """The record in the folder of ``model_path``, or None if there is none."""
        path = Path(model_path).with_name(RECORD_FILE)
        return cls.read(path) if path.exists() else None

    def split(self, name: str) -> list[tuple[int, int]]:
        """The ranges of split ``name`` of the training dataset: (first frame, frames) each, in
        time order."""
        recorded = self.splits.get(name)
        ranges = recorded.get("ranges") if isinstance(recorded, dict) else None
        try:
            return [(int(first), int(frames)) for first, frames in ranges]
        except (TypeError, ValueError) as err:
            raise TrainingRecordError(f"{self.path}: records no {name} split") from err

    def load_dataset(self) -> tuple[Dataset, str]:
        """(dataset, description) of the training dataset: the recorded file (where train saw
        it, else as given from here), or the built-in dataset regenerated from its recorded
        generator, seed and length. TrainingRecordError says why when neither is possible."""
        from daisynet.training.dataset import DatasetError
        from daisynet.training.dataset import load_dataset as load_dataset_file

        if self.dataset is None:
            raise TrainingRecordError(f"{self.path} names no training dataset")
        recorded, dataset, description = self.dataset, None, ""
        for candidate in dict.fromkeys(p for p in (recorded.resolved, recorded.path) if p):
            try:
                dataset, description = load_dataset_file(candidate), candidate
                break
            except DatasetError:
                continue
        generator = str(recorded.source.get("generator", ""))
        if dataset is None and generator.startswith(BUILTIN_FAMILY):
            from daisynet.training.builtin_data import GENERATOR, make_waveshaper_dataset

            if generator != GENERATOR:
                raise TrainingRecordError(
                    f"{self.path} was trained on data from {generator!r}, which this version "
                    f"no longer makes (it makes {GENERATOR!r}); retrain on it")
            seconds, seed = float(recorded.source["seconds"]), int(recorded.source["seed"])
            dataset = make_waveshaper_dataset(seconds, seed)
            description = f"the built-in dataset ({seconds:g} s, seed {seed}, regenerated)"
        if dataset is None and recorded.path is None:
            raise TrainingRecordError(f"{self.path} names no dataset file (the model was "
                                      "trained on data made in memory, or before training "
                                      "records named their dataset)")
        if dataset is None:
            raise TrainingRecordError(
                f"{self.path} names dataset {recorded.path or 'made in memory'}, which is not "
                "there" + (f" (nor at {recorded.resolved})"
                           if recorded.resolved and recorded.resolved != recorded.path else ""))
        if dataset.frames != recorded.frames:
            raise TrainingRecordError(f"{description} has {dataset.frames} frames, but "
                                      f"{self.path} says it had {recorded.frames}")
        return dataset, description


def _from_version_0(data: dict) -> dict:
    """A record from before format versions, as version 1 (then read on as one). It named no
    dataset file, only the dataset's provenance (``dataset_source``): the built-in data can be
    regenerated from that; a recording cannot be found again (export then asks for
    --calibration)."""
    splits = data.get("splits") if isinstance(data.get("splits"), dict) else {}
    source = data.get("dataset_source")
    frames = sum(int(split.get("frames", 0)) for split in splits.values()
                 if isinstance(split, dict))
    dataset = None if not isinstance(source, dict) else {
        "path": None, "resolved": None, "frames": frames, "sample_rate": data["sample_rate"],
        "source": source}
    results = {key: value for key, value in data.items()
               if key not in IDENTITY_KEYS and key != "dataset_source"}
    return results | {"format": FORMAT, "format_version": 1, "dataset": dataset,
                      "splits": splits} | {key: data[key] for key in LEGACY_KEYS}


def _from_version_1(data: dict, path: Path) -> dict:
    """A version 1 record, whose splits were one range each, as version 2."""
    splits = {name: ({key: value for key, value in split.items() if key != "first_frame"}
                     | {"ranges": [[split["first_frame"], split["frames"]]]}
                     if isinstance(split, dict) and {"first_frame", "frames"} <= set(split)
                     else split)
              for name, split in _typed(data, "splits", dict, path).items()}
    return data | {"format_version": FORMAT_VERSION, "splits": splits}


_KIND_NAMES = {str: "string", int: "whole number", list: "list", dict: "JSON object"}


def _typed(data: dict, key: str, kind: type, path: Path) -> Any:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TrainingRecordError(f"{path}: {key!r} must be a {_KIND_NAMES[kind]}, got "
                                  f"{json.dumps(value)[:60]}")
    return value
