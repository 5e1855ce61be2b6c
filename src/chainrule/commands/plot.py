"""``chainrule plot RUN_DIR``: redraw a training run's plots from its files.

Reads ``RUN_DIR/history.csv`` (written by ``chainrule train --out RUN_DIR``) and writes
``loss.png``, ``metrics.png`` and ``grad_norms.png`` into the run directory (or ``--out``);
for a 2-D toy data set also ``decision_boundary.png`` from ``RUN_DIR/model.safetensors``.
Needs matplotlib (``pip install chainrule[plots]``).
"""
from __future__ import annotations

import argparse

NAME = "plot"
HELP = "draw a run's loss/metric curves, per-layer gradient norms and decision boundary (PNG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a directory written by 'chainrule train --out RUN_DIR'")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write the PNG files here instead of into RUN_DIR")


def run(args: argparse.Namespace) -> int:
    import os

    from ..errors import DataError
    from ..viz.plots import _saved_model_and_data, load_history, plot_decision_boundary, plot_history

    if not os.path.isdir(args.run_dir):
        raise DataError(f"plot: {args.run_dir} is not a directory; give the folder written by "
                        f"'chainrule train --out DIR'")
    out = args.out or args.run_dir
    history = load_history(args.run_dir)
    paths = plot_history(history, out)
    model, data = _saved_model_and_data(args.run_dir)
    if model is not None and data is not None and data.num_features == 2:
        x, y = data.test.arrays
        paths.append(plot_decision_boundary(model, x, y, os.path.join(out, "decision_boundary.png"),
                                            title=f"{data.name}: decision boundary on the test points"))
    for p in paths:
        print(f"wrote {p}")
    return 0
