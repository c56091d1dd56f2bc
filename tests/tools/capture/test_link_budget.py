"""The link budget: a configuration the link cannot carry is refused live, in one line."""

import pytest

from daisynet.tools.cli import main

pytestmark = pytest.mark.native


def test_a_configuration_the_link_cannot_carry_is_refused_live(tmp_path, capsys):
    code = main(["capture", "--emulate", "--emulate-seconds", "1", "--format", "f32",
                 "--mode", "live", "-o", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "cannot stream this live: it needs 83% of the 1,000,000 B/s link (limit 80%)" in err
    assert "--mode record (longest take 79.4 s)" in err
    assert not (tmp_path / "c.wav").exists()


@pytest.mark.parametrize(("link_bytes", "words"), [(64_000, "1 packet of"),
                                                   (192_000, "3 packets of")])
def test_the_budget_counts_packets_in_words(link_bytes, words):
    """Issue 22: the link budget said '1 packets'."""
    from daisynet.tools.capture.link_budget import LinkBudget

    budget = LinkBudget("live", "s24", ["audio_in_1"], [], 60, 60_000, link_bytes, 1_000_000,
                        100.0, "it fits")
    assert words in budget.describe()[0]
