""""Check yourself": short questions per concept, each answered by a live demonstration.

Each :class:`Lesson` asks one question, sets the 2-D playground up to show the answer (a
preset of the page's own settings, validated by the same table the ``config`` message uses),
says what to do and what to watch, and gives the answer to compare with. The page keeps the
learner's answers in the page only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["LESSONS", "Lesson", "lessons_message"]


@dataclass(frozen=True)
class Lesson:
    """One question: ``settings`` (a partial ``config`` message) set the network up, ``action``
    says which button to press (``"step"``, ``"play"``, ``"chain"``, ``"landscape"``),
    ``watch`` where to look, ``answer`` what the demonstration shows."""

    key: str
    concept: str
    question: str
    settings: Mapping[str, Any]
    action: str
    watch: str
    answer: str
    choices: tuple[str, ...] = field(default=())

    def to_message(self) -> dict[str, Any]:
        return {"key": self.key, "concept": self.concept, "question": self.question,
                "settings": dict(self.settings), "action": self.action, "watch": self.watch,
                "answer": self.answer, "choices": list(self.choices)}


def _s(**values: Any) -> Mapping[str, Any]:
    return MappingProxyType(values)


LESSONS: tuple[Lesson, ...] = (
    Lesson("step", "what a step does",
           "One step changes every weight. By how much does it change the weight you click?",
           _s(dataset="circle", hidden=[4, 2], activation="tanh", optimizer="sgd", lr=0.3,
              batch_size=10, l2=0.0, dropout=0.0),
           "chain", "Pause, click an edge, press Step once: the panel's last line.",
           "By exactly −α·∂L/∂w: the learning rate times the gradient the panel just summed "
           "over the minibatch's paths (plain SGD, no L2)."),
    Lesson("sign", "the sign of the update",
           "If ∂L/∂w is positive, does the step make w larger or smaller?",
           _s(optimizer="sgd", lr=0.3, l2=0.0),
           "chain", "Click an edge whose ∂L/∂w is positive, then Step.",
           "Smaller: w moves against the gradient, downhill, because the update subtracts "
           "α·∂L/∂w.", ("larger", "smaller")),
    Lesson("lr_high", "learning rate too high",
           "What happens to the loss with a learning rate of 3?",
           _s(dataset="circle", hidden=[4, 2], activation="tanh", optimizer="sgd", lr=3.0,
              batch_size=10),
           "landscape", "Press Play and watch the loss curve and the path on the error mountain.",
           "It overshoots: each step jumps across the valley, the loss jumps around or grows, "
           "and the path zig-zags instead of rolling down."),
    Lesson("lr_low", "learning rate too low",
           "And with a learning rate of 0.001?",
           _s(dataset="circle", hidden=[4, 2], activation="tanh", optimizer="sgd", lr=0.001,
              batch_size=10),
           "landscape", "Press Play for a few seconds.",
           "The loss barely moves: the steps are tiny, the path creeps; it would get there, "
           "after thousands of times more steps."),
    Lesson("vanishing", "vanishing gradients",
           "Six sigmoid layers: which layer's weights learn slowest?",
           _s(dataset="xor", hidden=[4, 4, 4, 4, 4, 4], activation="sigmoid", optimizer="sgd",
              lr=0.3, batch_size=10),
           "play", "Press Play; read the per-layer gradient sizes, then click a first-layer "
           "edge and read its path's factors.",
           "The first (input side): each sigmoid contributes a factor σ' ≤ 0.25, so six of them "
           "shrink the gradient a thousandfold before it reaches the first layer.",
           ("first", "last")),
    Lesson("overfit", "overfitting",
           "A big network on few noisy points: what do the training and test losses do?",
           _s(dataset="spiral", noise=0.5, n_points=50, test_fraction=0.5,
              hidden=[8, 8, 8], activation="relu", optimizer="adam", lr=0.03, batch_size=10,
              l2=0.0, dropout=0.0),
           "play", "Press Play and watch the two loss curves part.",
           "Training loss keeps falling while test loss turns up: the network learns the "
           "noise of its 25 training points. Raise L2 or dropout and play again."),
    Lesson("epochs", "epochs and iterations",
           "200 training points, batch size 10: how many steps make one epoch?",
           _s(dataset="circle", n_points=400, test_fraction=0.5, batch_size=10),
           "step", "Press Step and read the step and epoch counters.",
           "20: an epoch is one pass over the 200 training points, 10 per step, so the epoch "
           "counter rises by 0.05 each step.", ("10", "20", "200")),
)


def lessons_message() -> dict[str, Any]:
    """The ``lessons`` message: every question with its preset, in order."""
    return {"type": "lessons", "lessons": [lesson.to_message() for lesson in LESSONS]}
