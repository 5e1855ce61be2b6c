"""Computation graphs as pictures: a layered layout drawn as plain SVG, or via graphviz.

The graph is read from the tensors themselves (each tensor's ``_edges`` name its inputs).
Columns are *depths*: leaves (parameters) on the left, the loss on the right, each op one
column after its deepest input, so a picture reads like the forward pass, and the backward
pass runs right to left against the arrows.

No dependency is needed for the SVG (strings only); graphviz's ``dot`` is used when
installed and asked for, because it routes edges around boxes in big graphs.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from ..opspec import op_spec
from ..tensor import Tensor, graph_order

__all__ = ["GraphNode", "collect", "render_svg", "to_dot", "render_graphviz", "summarize"]

BOX_W = 150
LINE_H = 15
PAD = 6
COL_GAP = 70
ROW_GAP = 22
MARGIN = 20

COLORS = {"param": "#d9f2d9", "leaf": "#eeeeee", "op": "#dbe8fb", "root": "#fde2c4"}


@dataclass
class GraphNode:
    """One tensor of the graph as drawn: its title, text lines, inputs and colour role."""

    key: int
    title: str
    lines: list[str]
    parents: list[int]
    role: str  # "param" | "leaf" | "op" | "root"
    depth: int = 0
    row: float = 0.0
    x: float = 0.0
    y: float = 0.0
    height: float = 0.0
    width: float = BOX_W
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(a: np.ndarray | None, label: str) -> str:
    """A short text for an array: the numbers when there are ≤ 4, else mean/std/range."""
    if a is None:
        return f"{label} —"
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return f"{label} (empty)"
    if a.size <= 4:
        vals = ", ".join(f"{v:.4g}" for v in a.reshape(-1))
        return f"{label} {vals}" if a.size == 1 else f"{label} [{vals}]"
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return f"{label} all NaN/Inf"
    bad = "" if finite.size == a.size else f" ({a.size - finite.size} NaN/Inf)"
    return f"{label} μ={finite.mean():.3g} σ={finite.std():.3g}{bad}"


def _fresh_grads(root: Tensor, order: list[Tensor]) -> dict[int, np.ndarray]:
    """∂root/∂t for every tensor t of the graph (root must be scalar), leaving .grad as it was."""
    saved = [(t, t.grad, t._retain) for t in order]
    try:
        for t in order:
            t.grad = None
            if t._edges:
                t._retain = True
        root.backward()
        return {id(t): np.array(t.grad, copy=True) for t in order if t.grad is not None}
    finally:
        for t, g, r in saved:
            t.grad, t._retain = g, r


def collect(root: Tensor, names: Mapping[int, str] | None = None, grads: bool = True
            ) -> list[GraphNode]:
    """The drawable nodes of ``root``'s graph, in topological order (inputs first).

    ``names`` maps ``id(tensor)`` to a display name (e.g. a module's parameter names);
    otherwise a tensor's ``.name`` is used. With ``grads`` and a scalar ``root`` that
    requires grad, every node also shows ``∂root/∂node`` from one fresh backward pass.
    """
    names = dict(names or {})
    order = graph_order(root)
    g = {}
    if grads and root.requires_grad and root.size == 1:
        g = _fresh_grads(root, order)
    elif grads:
        g = {id(t): t.grad for t in order if t.grad is not None}
    nodes: list[GraphNode] = []
    depth: dict[int, int] = {}
    for t in order:
        name = names.get(id(t)) or t.name
        if t._edges:
            title = f"{name} = {t.op}" if name else t.op
            role = "root" if t is root else "op"
        else:
            title = name or ("parameter" if t.requires_grad else "input")
            role = "param" if t.requires_grad else "leaf"
        shape = "×".join(str(s) for s in t.shape) or "scalar"
        lines = [f"shape {shape} {t.dtype}", summarize(t.data, "value")]
        spec = op_spec(t.op) if t._edges else None
        if spec is not None:  # what the op computes, as declared beside it in chainrule/ops
            lines.insert(0, spec.formula)
        if grads:
            lines.append(summarize(g.get(id(t)), "grad"))
        parents = [id(p) for p, _ in t._edges]
        d = 1 + max((depth[p] for p in parents), default=-1)
        depth[id(t)] = d
        nodes.append(GraphNode(id(t), title, lines, parents, role, depth=d))
    # a leaf sits in the column just before its first consumer, so its arrow is short
    consumers: dict[int, list[int]] = {}
    for n in nodes:
        for p in n.parents:
            consumers.setdefault(p, []).append(n.depth)
    for n in nodes:
        if not n.parents and n.key in consumers:
            n.depth = max(min(consumers[n.key]) - 1, 0)
    return nodes


def _text_width(s: str) -> float:
    """Approximate rendered width of ``s`` at font-size 11 (bold titles a little wider)."""
    return 6.4 * len(s)


def _layout(nodes: list[GraphNode]) -> tuple[float, float]:
    """Columns by depth; rows ordered by the mean row of each node's inputs (one sweep)."""
    cols: dict[int, list[GraphNode]] = {}
    for n in nodes:
        cols.setdefault(n.depth, []).append(n)
    by_key = {n.key: n for n in nodes}
    # leaves: order by the first consumer's position in topological order
    first_use: dict[int, int] = {}
    for i, n in enumerate(nodes):
        for p in n.parents:
            first_use.setdefault(p, i)
    for d in sorted(cols):
        col = cols[d]
        # ops by the mean row of their inputs, then the leaves feeding the next column
        col.sort(key=lambda n: (0, sum(by_key[p].row for p in n.parents) / len(n.parents))
                 if n.parents else (1, first_use.get(n.key, 0)))
        for i, n in enumerate(col):
            n.row = i
    height = 0.0
    x = float(MARGIN)
    for d in range(max(cols, default=-1) + 1):
        col = cols.get(d, [])
        w = max([BOX_W] + [_text_width(s) + 2 * PAD for n in col for s in [n.title, *n.lines]])
        y = MARGIN
        for n in col:
            n.height = PAD * 2 + LINE_H * (1 + len(n.lines))
            n.width = w
            n.x = x
            n.y = y
            y += n.height + ROW_GAP
        height = max(height, y)
        x += w + COL_GAP
    width = x - COL_GAP + MARGIN if cols else 2 * MARGIN
    return width, height + MARGIN - ROW_GAP


LEGEND = ("arrows: the forward pass · grad: ∂(output)/∂(this tensor), from one backward pass, "
          "which runs against the arrows")


def render_svg(nodes: list[GraphNode], title: str | None = None, legend: bool = True) -> str:
    """Pure-Python SVG text of the laid-out graph (boxes, text, curved arrows)."""
    width, height = _layout(nodes)
    legend = legend and any(line.startswith("grad") for n in nodes for line in n.lines)
    width = max(width, _text_width(LEGEND) + 2 * MARGIN if legend else 0)
    top = (28 if title else 0) + (18 if legend else 0)
    by_key = {n.key: n for n in nodes}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height + top:.0f}" '
        f'viewBox="0 0 {width:.0f} {height + top:.0f}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    if title:
        out.append(f'<text x="{MARGIN}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>')
    if legend:
        out.append(f'<text x="{MARGIN}" y="{top - 6}" fill="#555">{escape(LEGEND)}</text>')
    out.append(f'<g transform="translate(0,{top})">')
    for n in nodes:  # edges first, so boxes sit on top of them
        for p in n.parents:
            a = by_key[p]
            x1, y1 = a.x + a.width, a.y + a.height / 2
            x2, y2 = n.x, n.y + n.height / 2
            mid = (x1 + x2) / 2
            out.append(f'<path d="M {x1:.1f} {y1:.1f} C {mid:.1f} {y1:.1f}, {mid:.1f} {y2:.1f}, '
                       f'{x2:.1f} {y2:.1f}" fill="none" stroke="#555" stroke-width="1.2" '
                       f'marker-end="url(#arrow)"/>')
    for n in nodes:
        out.append(f'<g class="node {n.role}">')
        out.append(f'<rect x="{n.x:.1f}" y="{n.y:.1f}" width="{n.width:.1f}" height="{n.height:.1f}" '
                   f'rx="6" fill="{COLORS[n.role]}" stroke="#444"/>')
        ty = n.y + PAD + LINE_H - 3
        out.append(f'<text x="{n.x + PAD:.1f}" y="{ty:.1f}" font-weight="bold">'
                   f'{escape(n.title)}</text>')
        for i, line in enumerate(n.lines, 1):
            out.append(f'<text x="{n.x + PAD:.1f}" y="{ty + i * LINE_H:.1f}">{escape(line)}</text>')
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def to_dot(nodes: list[GraphNode], title: str | None = None) -> str:
    """The graph in graphviz's DOT language (left to right, one box per tensor)."""
    lines = ["digraph chainrule {", '  rankdir=LR; fontname="DejaVu Sans"; fontsize=12;',
             '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans", fontsize=10];']
    heading = [t for t in (title, LEGEND if any(ln.startswith("grad") for n in nodes for ln in n.lines)
                           else None) if t]
    if heading:
        lines.append(f'  label="{_dot_str(chr(10).join(heading))}"; labelloc=t;')
    for n in nodes:
        label = "\\n".join(_dot_str(s) for s in [n.title, *n.lines])
        lines.append(f'  n{n.key} [label="{label}", fillcolor="{COLORS[n.role]}"];')
    for n in nodes:
        for p in n.parents:
            lines.append(f"  n{p} -> n{n.key};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_graphviz(nodes: list[GraphNode], title: str | None = None) -> str | None:
    """SVG from graphviz's ``dot`` when it is installed (None when not, or when it fails)."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        res = subprocess.run([dot, "-Tsvg"], input=to_dot(nodes, title).encode(),
                             capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.decode("utf-8", errors="replace")
