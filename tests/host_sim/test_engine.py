import numpy as np
import pytest

from daisynet.host_sim.engine import Simulator
from daisynet.host_sim.reference import reference_output
from daisynet.training.export import spec_from_keras
from daisynet.training.model import predict_sequence

# (inputs, filters per block, kernel): K = 2, 3, 4; 2 to 6 blocks; 1 to 4 inputs; 1 to 16 filters.
SHAPES = [
    (3, (4, 4, 4, 8), 4),  # the reference architecture
    (1, (1, 1), 2),
    (2, (16, 16), 2),
    (4, (8, 3, 8), 3),
    (1, (2, 3, 4, 5, 6, 7), 2),
    (3, (5, 5, 5, 5, 5), 3),
    (4, (16, 12, 8, 4, 2, 1), 2),
    (2, (6, 6, 6, 6, 6), 4),
    (4, (16, 16, 16, 16), 4),
    (1, (3, 3, 3, 3, 3, 3), 4),  # receptive field 4096
]


def shape_id(shape):
    inputs, filters, kernel = shape
    return f"in{inputs}-K{kernel}-f{'_'.join(map(str, filters))}"


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_cached_engine_matches_keras(shape, random_wavenet, audio_like):
    inputs, filters, kernel = shape
    model = random_wavenet(inputs, filters, kernel, seed=len(filters) * 10 + kernel)
    spec = spec_from_keras(model)
    receptive_field = spec.architecture().receptive_field
    # Long enough for every layer's history to fill and wrap several times.
    x = audio_like(2 * receptive_field + 777, inputs, seed=inputs)
    expected = predict_sequence(model, x, receptive_field)
    simulated = Simulator(spec).render(x, block_size=48)
    assert np.std(expected) > 0.01, "degenerate model: the output does not follow the input"
    assert np.max(np.abs(simulated - expected)) <= 1e-5
    # Both float32 engines stay close to the exact float64 answer.
    assert np.max(np.abs(simulated - reference_output(spec, x))) <= 1e-5


@pytest.mark.parametrize("block_size", [1, 7, 48, 64])
def test_streaming_in_any_block_size_is_bit_identical(block_size, random_wavenet, audio_like):
    model = random_wavenet(3, (4, 4, 4, 8), 4, seed=1)
    spec = spec_from_keras(model)
    x = audio_like(1500, 3)
    one_pass = Simulator(spec).process(x)
    streamed = Simulator(spec).render(x, block_size=block_size)
    assert np.array_equal(streamed, one_pass)
    np.testing.assert_allclose(streamed, predict_sequence(model, x, 256), atol=1e-5)


def test_irregular_block_sequence_keeps_state(random_wavenet, audio_like):
    spec = spec_from_keras(random_wavenet(2, (3, 3, 3), 3, seed=2))
    x = audio_like(1000, 2)
    sim = Simulator(spec)
    pieces, start = [], 0
    for size in [1, 7, 48, 64, 3, 200, 1, 500]:
        pieces.append(sim.process(x[start : start + size]))
        start += size
    pieces.append(sim.process(x[start:]))
    assert np.array_equal(np.concatenate(pieces), Simulator(spec).process(x))


def test_reset_returns_to_silence(random_wavenet, audio_like):
    spec = spec_from_keras(random_wavenet(1, (2, 2, 2), 2, seed=4))
    sim = Simulator(spec)
    x = audio_like(300, 1)
    first = sim.process(x)
    assert not np.array_equal(sim.process(x), first)  # the history carried over
    sim.reset()
    assert np.array_equal(sim.process(x), first)


def test_bad_input_shape_and_empty_block(random_wavenet):
    sim = Simulator(spec_from_keras(random_wavenet(2, (2, 2), 2)))
    with pytest.raises(ValueError, match=r"expected \(frames, 2\)"):
        sim.process(np.zeros((10, 3), np.float32))
    assert sim.process(np.zeros((0, 2), np.float32)).shape == (0, 1)
    with pytest.raises(ValueError, match="block size"):
        sim.render(np.zeros((10, 2), np.float32), block_size=0)


@pytest.mark.parametrize("block_size", [65_535, 65_536, 70_000, 200_000])
def test_blocks_beyond_cmsis_16_bit_row_counts_are_split_and_exact(block_size, random_wavenet,
                                                                   audio_like):
    """Issue 10, finding 1: a block of 65,536 frames segfaulted, longer ones gave garbage."""
    spec = spec_from_keras(random_wavenet(3, (4, 4), 4, seed=3))
    x = audio_like(140_000, 3, seed=1)
    expected = Simulator(spec).render(x, block_size=4096)
    assert np.array_equal(Simulator(spec).render(x, block_size=block_size), expected)
