"""The progress bar shows on a terminal only."""
import io

from chainrule.training.progress import EpochProgress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal():
    s = FakeTTY()
    bar = EpochProgress(4, "epoch 1/3", stream=s)
    assert bar.active
    for _ in range(4):
        bar.update(1, loss=0.5, accuracy=0.9)
    bar.close()
    text = s.getvalue()
    assert "epoch 1/3" in text and "/4 [" in text  # redraws are rate-limited (mininterval)


def test_silent_when_not_a_terminal_or_disabled():
    s = io.StringIO()
    bar = EpochProgress(4, "epoch 1/3", stream=s)
    bar.update(1, loss=0.5)
    bar.close()
    assert not bar.active and s.getvalue() == ""
    t = FakeTTY()
    off = EpochProgress(4, "x", enabled=False, stream=t)
    off.update(1)
    assert not off.active and t.getvalue() == ""
