"""Train with the Python API under mpiexec and save this rank's final state (a test helper).

Usage: [mpiexec -n N] python _api_train.py OUT_DIR {fit|loop} — a BatchNorm MLP on a fixed
synthetic problem, global batch 50 whatever N (batch_size is per rank: 50 // N); writes
OUT_DIR/<mode>-rank<r>.npz with the state dict and the losses."""
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.training import fit

out_dir, mode = sys.argv[1], sys.argv[2]
launched = dist.is_launched()
if launched:
    dist.init()
rng = np.random.default_rng(0)
X = rng.standard_normal((403, 6)).astype(np.float32)
y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
cr.manual_seed(10 + dist.rank())  # different on each rank: rank 0's initial state must win
model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
per_rank = 50 // dist.world_size()  # the global batch is world_size * batch_size
losses = []
if mode == "fit":
    history = fit(model, nn.CrossEntropyLoss(), opt, (X[:350], y[:350]), val=(X[350:], y[350:]), epochs=3,
                  batch_size=per_rank, seed=4, clip_grad_norm=0.5, distributed=launched, progress=False,
                  diagnostics=False)
    losses = [e["loss"] for e in history.epochs] + [e["val_loss"] for e in history.epochs]
    from chainrule.tensor import _post_hooks

    assert not _post_hooks, "fit(distributed=True) left its gradient hooks on the model"
else:  # the loop of chainrule.distributed's docstring
    data = TensorDataset(X[:400], y[:400])  # shards of 25: BatchNorm needs 2+ examples
    ddp = dist.DataParallel(model) if launched else model
    sampler = dist.DistributedSampler(len(data), batch_size=per_rank, seed=4, rank=dist.rank(),
                                      world_size=dist.world_size())
    loader = DataLoader(data, batch_sampler=sampler)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(ddp(xb), yb)
            loss.backward()
            if launched:
                ddp.synchronize()
            opt.step()
            losses.append(float(loss.item()))
np.savez(f"{out_dir}/{mode}-rank{dist.rank()}.npz", losses=np.array(losses), **model.state_dict())
