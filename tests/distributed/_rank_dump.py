"""Run ``chainrule train ARGS`` under mpiexec and save every rank's final weights.

Usage: mpiexec -n N python _rank_dump.py DUMP_DIR train ARGS... — writes DUMP_DIR/rank<r>.npz
(a test helper: the CLI itself writes only rank 0's model)."""
import os
import sys

import numpy as np

from chainrule import training
from chainrule.cli import main

dump_dir, argv = sys.argv[1], sys.argv[2:]
models = []
real_fit = training.fit


def fit_and_keep(model, *args, **kwargs):
    models.append(model)
    return real_fit(model, *args, **kwargs)


training.fit = fit_and_keep
status = main(argv)
if models:
    rank = int(os.environ.get("PMI_RANK", "0"))
    np.savez(os.path.join(dump_dir, f"rank{rank}.npz"), **models[-1].state_dict())
sys.exit(status)
