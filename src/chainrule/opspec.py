"""What each op is, in words: the record that ``cr.explain`` and the graph pictures read.

An op (``chainrule/ops``) is a forward computation beside one VJP per input, recorded with
``make(out, "mul", (a, vjp_a), (b, vjp_b))``. Beside each op's code, a module-level
:func:`define_op` declares its :class:`OpSpec`: what the op computes and its local derivative
with respect to each input, in words, and whether its Jacobian is diagonal (elementwise).

The engine never reads this table. A tensor keeps only the op's name (the string ``make``
already receives), so running an op costs nothing extra; the learning aids look the name up
here when they explain or draw a graph. A name without a spec still works (explain then
prints the value without words); ``tests/test_opspec.py`` checks that every op has one.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OpSpec", "define_op", "op_spec", "registered_ops"]


@dataclass(frozen=True)
class OpSpec:
    """One op, described for people.

    Attributes:
        name: the op's name, as passed to ``make`` and shown as ``tensor.op``.
        formula: the forward computation in symbols, e.g. ``"x·Wᵀ + b"``.
        inputs: the names of the inputs, in the order of ``make``'s edges (``("x", "W", "b")``).
        derivatives: the local derivative ``∂out/∂input`` in words, one per input (a single
            entry applies to every input, as for ``concatenate``).
        elementwise: output element ``j`` depends only on input element ``j`` when their
            shapes agree (a diagonal Jacobian), so a zero local derivative still marks a path:
            a dead ReLU or a saturated sigmoid, which is worth seeing.
    """

    name: str
    formula: str
    inputs: tuple[str, ...]
    derivatives: tuple[str, ...]
    elementwise: bool = False

    def derivative(self, position: int) -> str:
        """The local derivative with respect to the input at ``position`` (of make's edges)."""
        if len(self.derivatives) == 1:
            return self.derivatives[0]
        return self.derivatives[position] if 0 <= position < len(self.derivatives) else ""

    def input_name(self, position: int) -> str:
        """The name of the input at ``position`` (``""`` when the op has fewer)."""
        if len(self.inputs) == 1:
            return self.inputs[0]
        return self.inputs[position] if 0 <= position < len(self.inputs) else ""


_SPECS: dict[str, OpSpec] = {}


def define_op(name: str, formula: str, inputs: tuple[str, ...], derivatives: tuple[str, ...],
              *, elementwise: bool = False) -> OpSpec:
    """Declare an op's :class:`OpSpec` (once, beside its forward and VJPs) and return it.

    Raises ``ValueError`` when ``name`` is declared twice with different contents (two ops
    must not share a name, or explain would describe one with the other's words).
    """
    if not derivatives or (len(derivatives) != 1 and len(derivatives) != len(inputs)):
        raise ValueError(f"op {name!r}: give one derivative for all inputs or one per input "
                         f"({len(inputs)}); got {len(derivatives)}")
    spec = OpSpec(name, formula, tuple(inputs), tuple(derivatives), elementwise)
    old = _SPECS.get(name)
    if old is not None and old != spec:
        raise ValueError(f"op {name!r} is declared twice, differently")
    _SPECS[name] = spec
    return spec


def op_spec(name: str) -> OpSpec | None:
    """The spec of the op called ``name``, or None (leaves, and ops declared nowhere)."""
    return _SPECS.get(name)


def registered_ops() -> dict[str, OpSpec]:
    """Every declared op by name (a copy)."""
    return dict(_SPECS)
