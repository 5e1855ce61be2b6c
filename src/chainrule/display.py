"""Rich display in Jupyter: what a notebook shows for chainrule's objects.

Jupyter asks an object for ``_repr_svg_`` / ``_repr_html_`` before falling back to its
``repr``. The objects themselves delegate here, so every picture is built in one file, from
NumPy and the standard library alone (no IPython, no matplotlib):

* ``cr.viz.graph(...)`` returns :class:`SVG` text, drawn inline;
* an ``Explanation`` (``cr.explain``) is a table per path: each local derivative, its value
  and formula, the product, the sums, ``.grad`` and the finite-difference check;
* a ``History`` is its table of epochs and SVG curves of loss and metric (train and val);
* a ``Module`` is its summary table (``chainrule.nn.summary``);
* :class:`LivePlot` (``fit(..., plot=True)``) redraws those curves in place after each epoch.

:func:`in_notebook` tells a Jupyter kernel from a terminal without importing IPython.
"""
from __future__ import annotations

import html
import math
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .training.callbacks import Callback

if TYPE_CHECKING:  # pragma: no cover
    from .explanation import Explanation
    from .training.fit import Run
    from .training.history import History

_e = html.escape


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ``ZMQInteractiveShell``). IPython is only
    looked up when something already imported it, so a script never pays for the check."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython must never break training
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class SVG(str):
    """SVG text that a notebook draws (``_repr_svg_``); otherwise an ordinary ``str``."""

    def _repr_svg_(self) -> str:
        return str(self)


# ----------------------------------------------------------------------------- numbers
def _num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.4e}"
    return _e(str(v))


# ----------------------------------------------------------------------------- curves
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def curves_svg(series: dict[str, Sequence[float]], title: str, width: int = 320,
               height: int = 200) -> str:
    """Line chart of ``{label: values per epoch}`` (epochs from 1) as SVG text."""
    left, right, top, bottom = 46, 10, 22, 28
    w, h = width - left - right, height - top - bottom
    finite = [v for vals in series.values() for v in vals if v is not None and math.isfinite(v)]
    n = max((len(v) for v in series.values()), default=0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="14" font-weight="bold">{_e(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#bbb"/>']
    if finite and n:
        lo, hi = min(finite), max(finite)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5

        def xy(i: int, v: float) -> str:
            x = left + (w * i / (n - 1) if n > 1 else w / 2)
            return f"{x:.1f},{top + h - (v - lo) / (hi - lo) * h:.1f}"

        for y_val in (lo, hi):
            y = top + h - (y_val - lo) / (hi - lo) * h
            parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{y_val:.3g}</text>')
        parts.append(f'<text x="{left}" y="{height - 8}">1</text>'
                     f'<text x="{left + w}" y="{height - 8}" text-anchor="end">epoch {n}</text>')
        for k, vals in enumerate(series.values()):
            colour = _COLOURS[k % len(_COLOURS)]
            pts = [xy(i, v) for i, v in enumerate(vals) if v is not None and math.isfinite(v)]
            if len(pts) > 1:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                             f'points="{" ".join(pts)}"/>')
            for p in pts[-1:] if len(pts) > 1 else pts:
                cx, cy = p.split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        legend = "".join(f'<tspan fill="{_COLOURS[k % len(_COLOURS)]}">■ {_e(label)} </tspan>'
                         for k, label in enumerate(series))
        parts.append(f'<text x="{left + w}" y="14" text-anchor="end">{legend}</text>')
    parts.append("</svg>")
    return "".join(parts)


def history_svg(history: History) -> SVG:
    """Loss curves and, when there is one, the metric's curves, side by side."""
    keys = history.keys()
    charts = [curves_svg({k: history[k] for k in ("loss", "val_loss") if k in keys}, "loss")]
    metric = next((m for m in ("accuracy", "r2", "mae", "mse") if m in keys), None)
    if metric:
        charts.append(curves_svg({k: history[k] for k in (metric, f"val_{metric}") if k in keys}, metric))
    width = 330 * len(charts)
    inner = "".join(f'<g transform="translate({330 * i},0)">{c}</g>' for i, c in enumerate(charts))
    # viewBox + max-width: the pair shrinks to fit a narrow output area instead of overflowing
    return SVG(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="200" '
               f'viewBox="0 0 {width} 200" style="max-width:100%;height:auto">{inner}</svg>')


def history_html(history: History) -> str:
    """The epochs as a table (without the per-layer gradient norms) beside its curves."""
    cols = [k for k in history.keys() if k != "grad_norms"]
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    shown = history.epochs if len(history) <= 30 else history.epochs[:10] + history.epochs[-10:]
    rows = []
    for i, e in enumerate(shown):
        if len(history) > 30 and i == 10:
            rows.append(f"<tr><td colspan='{len(cols)}'>… {len(history) - 20} epochs …</td></tr>")
        rows.append("<tr>" + "".join(f"<td>{_num(e.get(c))}</td>" for c in cols) + "</tr>")
    stop = f"; stopped: {_e(history.stop_reason)}" if history.stop_reason else ""
    best = f"; best epoch {history.best_epoch}" if history.best_epoch else ""
    return (f"<div class='chainrule-history'><strong>History</strong> ({len(history)} epochs{stop}{best})"
            f"<div>{history_svg(history) if len(history) else ''}</div>"
            f"<div style='overflow-x:auto'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table></div></div>")


# ----------------------------------------------------------------------------- explain
def explanation_html(d: Explanation) -> str:
    """An Explanation as HTML: the tensors on the way, a table per path, then the checks."""
    from .explanation import _fmt

    out = [f"<div class='chainrule-explain'><p><strong>∂L/∂{_e(d.label)}</strong>: how a change in "
           f"<code>{_e(d.label)} = {_e(_fmt(d.value))}</code> reaches the loss "
           f"<code>L = {_e(_fmt(d.loss))}</code></p>"]
    chain = " → ".join(f"<code>{_e(g.name)}</code> {_e(str(tuple(g.shape)))}"
                       + ("" if g.op == "leaf" else f" <em>{_e(g.op)}</em>") for g in d.graph)
    out.append(f"<p>tensors on the way: {chain}</p>")
    if d.n_paths is None:
        out.append("<p>(the element-by-element trace was skipped: the graph is too large)</p>")
    else:
        more = f", the {len(d.paths)} contributing most listed" if d.truncated else ""
        out.append(f"<p>{d.n_paths} path{'s' if d.n_paths != 1 else ''} from {_e(d.label)} to L{more}</p>")
    for i, p in enumerate(d.paths, 1):
        rows = "".join(f"<tr><td><code>{_e(f.symbol)}</code></td><td style='text-align:right'>"
                       f"{_e(_fmt(f.value))}</td><td>{_e(f.op)}</td><td>{_e(f.formula)}</td></tr>"
                       for f in p.factors)
        out.append(f"<p>path {i}: {_e(' → '.join(p.nodes))}</p><table><thead><tr><th>local derivative"
                   f"</th><th>value</th><th>op</th><th>formula</th></tr></thead><tbody>{rows}"
                   f"<tr><td><strong>product</strong></td><td style='text-align:right'><strong>"
                   f"{_e(_fmt(p.product))}</strong></td><td colspan='2'>"
                   f"{_e(' × '.join(_fmt(f.value) for f in p.factors))}</td></tr></tbody></table>")
    checks = [("sum over all paths", _fmt(d.path_sum), ""),
              (".grad from backward()", _fmt(d.grad),
               "✓ equal" if d.matches_grad else ("✗ differ" if d.matches_grad is False else ""))]
    if d.finite_difference is not None:
        checks.append(("finite difference", _fmt(d.finite_difference),
                       ("✓ agrees" if d.matches_fd else "✗ disagrees") + f" (ε = {d.eps:g}, float64)"))
    out.append("<table><tbody>" + "".join(
        f"<tr><td>{_e(a)}</td><td style='text-align:right'><code>{_e(b)}</code></td><td>{_e(c)}</td></tr>"
        for a, b, c in checks) + "</tbody></table>")
    out += [f"<p><em>note: {_e(n)}</em></p>" for n in d.notes]
    out.append("</div>")
    return "".join(out)


# ----------------------------------------------------------------------------- live curves
class LivePlot(Callback):
    """``fit(..., plot=True)``: in a notebook, the loss and metric curves redrawn in place
    after every epoch (one output area, updated through IPython's display ids). Outside a
    notebook it warns once and does nothing (``chainrule train --plot`` draws PNG files)."""

    def __init__(self) -> None:
        self.handle: Any = None

    def on_train_begin(self, run: Run) -> None:
        if not in_notebook():
            warnings.warn("fit(plot=True) draws live curves in a Jupyter notebook only; in a script use "
                          "chainrule.viz.plots.plot_history(history, dir)", stacklevel=2)
            return
        from IPython.display import display  # present: we are in a notebook kernel

        self.handle = display(SVG(curves_svg({}, "training…")), display_id=True)

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        if self.handle is not None:
            self.handle.update(history_svg(run.history))


__all__ = ["SVG", "LivePlot", "curves_svg", "explanation_html", "history_html", "history_svg", "in_notebook"]
