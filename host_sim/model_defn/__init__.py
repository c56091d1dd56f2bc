"""The model_defn.h contract, one place for both sides of it.

``spec`` describes the model (its family, wavenet or GRU; the shape, the weights, float32 or
q15/q7 (wavenet only so far), what the engine can run, and the hash that identifies its
behaviour); ``fixed_point`` defines the integer arithmetic of q15/q7 models; ``writer`` renders
a spec into model_defn.h and its golden vectors from ``templates/``; ``reader`` parses them
back, checking the format version, the family, the hash and every shape constant. Training,
the simulator and the CLI import it from here; it imports neither Keras nor ``training``.
"""

from daisynet.host_sim.model_defn.reader import (
    HeaderError,
    read_golden,
    read_golden_all,
    read_header,
)
from daisynet.host_sim.model_defn.spec import (
    MODEL_DEFN_FORMAT_VERSION,
    QUANTIZED_FORMATS,
    AnyModelSpec,
    Architecture,
    ConvLayer,
    GruArchitecture,
    GruLayer,
    GruRecurrentQuant,
    GruSpec,
    LayerQuant,
    ModelSpec,
    NumberFormat,
    SelfCheck,
    UnsupportedModelError,
    number_format,
)
from daisynet.host_sim.model_defn.writer import (
    golden_path,
    render_golden,
    render_header,
    with_self_check,
)

__all__ = [
    "AnyModelSpec",
    "Architecture",
    "ConvLayer",
    "GruArchitecture",
    "GruLayer",
    "GruRecurrentQuant",
    "GruSpec",
    "HeaderError",
    "LayerQuant",
    "MODEL_DEFN_FORMAT_VERSION",
    "ModelSpec",
    "NumberFormat",
    "QUANTIZED_FORMATS",
    "SelfCheck",
    "UnsupportedModelError",
    "golden_path",
    "number_format",
    "read_golden",
    "read_golden_all",
    "read_header",
    "render_golden",
    "render_header",
    "with_self_check",
]
