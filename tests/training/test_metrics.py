import numpy as np
import pytest

from daisynet.training.metrics import esr, pre_emphasis


def test_esr_values():
    target = np.sin(np.linspace(0, 20, 1000))
    assert esr(target, target) == 0.0
    assert esr(target, np.zeros_like(target)) == pytest.approx(1.0)
    assert esr(target, 0.9 * target) == pytest.approx(0.01)


def test_pre_emphasis_weighs_high_frequencies():
    t = np.arange(4800)
    low, high = np.sin(2 * np.pi * 0.001 * t), np.sin(2 * np.pi * 0.2 * t)
    target = low + high
    # The same error energy counts more in the high band once pre-emphasised.
    err_low = esr(target, target + 0.1 * low, 0.95)
    err_high = esr(target, target + 0.1 * high, 0.95)
    assert err_high > 5 * err_low
    assert pre_emphasis(np.ones(3))[0] == 1.0


def test_esr_errors():
    with pytest.raises(ValueError, match="silent"):
        esr(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        esr(np.ones(4), np.ones(5))
