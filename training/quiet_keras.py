"""Keras without TensorFlow's start-up noise on the terminal.

Importing TensorFlow writes absl and oneDNN notices straight to the process's stderr (file
descriptor 2) from C++, before any Python setting can apply, and TensorFlow's Python logger
warns about tf.function retracing in paragraphs. Neither says anything a daisynet user can act
on, so the first import runs with descriptor 2 pointed at /dev/null and TensorFlow's logger is
limited to errors. A failing import still raises its Python exception.
"""

from __future__ import annotations

import logging
import os
import sys


def import_keras():
    """The ``keras`` module, imported quietly the first time."""
    if "keras" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
                import keras  # noqa: F401 (imported for sys.modules)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return sys.modules["keras"]
