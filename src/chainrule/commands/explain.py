"""``chainrule explain``: backpropagation on a tiny network, every number printed.

Runs the 2-2-1 network of :class:`chainrule.tiny_network.TinyNetwork` on one example and prints
the forward pass (each weighted sum written out), the loss, the chain rule for one weight
(every local derivative ∂ with its value, their product, ``.grad``), one gradient-descent
step ``w ← w − α·∂L/∂w`` with the lower loss after it, and a finite-difference check.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from .. import catalogue

NAME = "explain"
HELP = "show backpropagation on a tiny network, with every number (the chain rule by hand)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weight", default="W1[0,0]",
                        help="the parameter element to explain: W1[i,j], b1[i], W2[0,j] or "
                             "b2[0] (default: W1[0,0], a hidden-layer weight)")
    parser.add_argument("--lr", type=float, default=0.5,
                        help="learning rate α of the gradient-descent step (default: 0.5)")
    parser.add_argument("--activation", choices=catalogue.TINY_NETWORK_ACTIVATIONS, default="sigmoid",
                        help="activation of the 2 hidden neurons (default: sigmoid)")
    parser.add_argument("--input", nargs=2, type=float, metavar=("X0", "X1"), default=(0.05, 0.10),
                        help="the example's two inputs (default: 0.05 0.10)")
    parser.add_argument("--target", type=float, default=0.01,
                        help="the desired output y (default: 0.01)")
    parser.add_argument("--json", action="store_true",
                        help="print the numbers as JSON instead of text")


def _f(v: float) -> str:
    return f"{v:.6g}"


def explain_tiny(weight: str = "W1[0,0]", lr: float = 0.5, activation: str = "sigmoid",
                 x: Any = (0.05, 0.10), y: float = 0.01) -> dict[str, Any]:
    """Everything ``chainrule explain`` shows, as a dict (see :func:`format_report`)."""
    from ..errors import ConfigError
    from ..explanation import explain
    from ..tensor import no_grad
    from ..tiny_network import TinyNetwork, parse_weight

    if not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"explain: --lr must be a positive number; got {lr}")
    if not all(np.isfinite(v) for v in (*x, y)):
        raise ConfigError(f"explain: --input and --target must be finite numbers; got "
                          f"{list(x)} and {y}")
    net = TinyNetwork(activation, x=tuple(x), y=y)
    pname, idx = parse_weight(weight)
    p = net.param(pname)
    if not idx:
        idx = (0,) * p.ndim
    if len(idx) != p.ndim or any(not 0 <= i < n for i, n in zip(idx, p.shape)):
        raise ConfigError(f"explain: {weight!r} is not an element of {pname}, which has shape "
                          f"{p.shape}; e.g. {pname}[{','.join('0' * p.ndim)}]")
    with no_grad():
        fwd = {k: t.data.astype(np.float64).reshape(-1).tolist() for k, t in net.forward().items()}
    ex = explain(net.loss, p, idx, max_paths=10)

    # one step of gradient descent on every parameter, with the gradients of one backward
    loss = net.loss()
    for q in net.parameters():
        q.grad = None
    loss.backward()
    before = float(loss.item())
    step = {}
    for q in net.parameters():
        old, grad = q.data.copy(), q.grad
        assert grad is not None  # every parameter is on the loss's path
        q.data = (q.data - np.float32(lr) * grad).astype(np.float32)
        step[q.name] = {"old": old.astype(np.float64).reshape(-1).tolist(),
                        "grad": grad.astype(np.float64).reshape(-1).tolist(),
                        "new": q.data.astype(np.float64).reshape(-1).tolist()}
    with no_grad():
        after = float(net.loss().item())
    flat = int(np.ravel_multi_index(idx, p.shape))
    return {
        "network": {"inputs": 2, "hidden": 2, "outputs": 1, "activation": activation,
                    "output_activation": "sigmoid", "loss": "mse"},
        "x": [float(v) for v in x], "y": float(y),
        "params": {k: v["old"] for k, v in step.items()},
        "forward": fwd, "loss": before,
        "weight": ex.label, "explanation": ex,
        "lr": lr, "update": {"weight": ex.label, "old": step[pname]["old"][flat],
                             "grad": step[pname]["grad"][flat], "new": step[pname]["new"][flat]},
        "step": step, "loss_after": after,
        "finite_difference": ex.finite_difference, "grad": ex.grad,
        "agrees": bool(ex.matches_fd),
    }


def format_report(r: dict[str, Any]) -> str:
    """The text of ``chainrule explain`` from :func:`explain_tiny`'s dict."""
    act = r["network"]["activation"]
    sym = {"sigmoid": "σ", "tanh": "tanh", "relu": "relu"}[act]
    P, F = r["params"], r["forward"]
    x, y = r["x"], r["y"]
    out = []
    out.append(f"A tiny network: 2 inputs → 2 {act} hidden neurons → 1 sigmoid output, "
               f"mean squared error.")
    out.append(f"One example: x = [{_f(x[0])}, {_f(x[1])}], target y = {_f(y)}.")
    out.append(f"Weights: W1 = [[{_f(P['W1'][0])}, {_f(P['W1'][1])}], [{_f(P['W1'][2])}, "
               f"{_f(P['W1'][3])}]], b1 = [{_f(P['b1'][0])}, {_f(P['b1'][1])}], "
               f"W2 = [[{_f(P['W2'][0])}, {_f(P['W2'][1])}]], b2 = [{_f(P['b2'][0])}]")
    out.append("")
    out.append("1. Forward pass: from the input to the loss")
    for i in range(2):
        w0, w1, b = P["W1"][2 * i], P["W1"][2 * i + 1], P["b1"][i]
        out.append(f"   z1[{i}] = W1[{i},0]·x[0] + W1[{i},1]·x[1] + b1[{i}] = {_f(w0)}·{_f(x[0])} "
                   f"+ {_f(w1)}·{_f(x[1])} + {_f(b)} = {_f(F['z1'][i])}")
    for i in range(2):
        out.append(f"   h[{i}]  = {sym}(z1[{i}]) = {sym}({_f(F['z1'][i])}) = {_f(F['h'][i])}")
    out.append(f"   z2    = W2[0,0]·h[0] + W2[0,1]·h[1] + b2[0] = {_f(P['W2'][0])}·{_f(F['h'][0])} "
               f"+ {_f(P['W2'][1])}·{_f(F['h'][1])} + {_f(P['b2'][0])} = {_f(F['z2'][0])}")
    out.append(f"   ŷ     = σ(z2) = σ({_f(F['z2'][0])}) = {_f(F['ŷ'][0])}")
    out.append(f"   L     = (ŷ − y)² = ({_f(F['ŷ'][0])} − {_f(y)})² = {_f(r['loss'])}")
    out.append("")
    w = r["weight"]
    out.append(f"2. Backward pass: the chain rule for one weight, ∂L/∂{w}")
    out.extend("   " + line if line else "" for line in r["explanation"].text().splitlines())
    out.append("")
    u = r["update"]
    out.append(f"3. One step of gradient descent, w ← w − α·∂L/∂w with α = {_f(r['lr'])}")
    out.append(f"   {w} ← {_f(u['old'])} − {_f(r['lr'])} × {_f(u['grad'])} = {_f(u['new'])}")
    out.append("   (every other weight and bias is updated the same way, each with its own "
               "∂L/∂w from the same backward pass)")
    lower = r["loss_after"] < r["loss"]
    out.append(f"   loss before: {_f(r['loss'])}   after: {_f(r['loss_after'])}   "
               + ("lower ✓: the step went downhill" if lower
                  else "NOT lower: the step was too big (try a smaller --lr)"))
    out.append("")
    fd = r["finite_difference"]
    rel = abs(fd - r["grad"]) / max(abs(fd), 1e-12)
    verdict = "they agree" if r["agrees"] else "they DISAGREE"
    out.append(f"4. Check: finite differences (L(w+ε) − L(w−ε))/2ε in float64 give {_f(fd)}; "
               f"backpropagation gave {_f(r['grad'])}; {verdict} (relative difference "
               f"{rel:.1e}).")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    r = explain_tiny(args.weight, args.lr, args.activation, args.input, args.target)
    if args.json:
        print(json.dumps({**r, "explanation": r["explanation"].to_dict()}, indent=2,
                         ensure_ascii=False))
    else:
        print(format_report(r))
    return 0 if r["agrees"] else 1
