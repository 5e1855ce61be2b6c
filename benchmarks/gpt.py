"""The character-level GPT in chainrule and in PyTorch CPU, side by side, step by step.

Model (both): ``nn.gpt(vocab=27, block_size=32, n_layer=4, n_head=4, n_embd=64)`` — pre-LN
blocks with causal multi-head self-attention and a GELU MLP, tied output head, 203 840
parameters. PyTorch runs the same architecture built from ``torch.nn`` (``Embedding``,
``LayerNorm``, ``MultiheadAttention(batch_first=True)`` with a causal mask, ``Linear``) and
starts from *the same initial weights* (chainrule's state dict copied over: the parameter
names are PyTorch's).

Recipe (both; seed-independent: the batches come from one fixed index table): the bundled
``names`` corpus, training windows of 32 characters every 8, batch 64, AdamW lr 3e-3
(weight decay 0.01) with cosine decay over the steps, gradient norm clipped at 1, float32.
The two libraries alternate step by step (chainrule step k, then PyTorch step k), so machine
load hits both alike; each step is timed on its own and the medians are compared. After the
last step both score the validation stream (every character once) in nats per character.

Peak memory: each library then trains the same recipe for a few steps in a fresh
subprocess (chainrule's never imports torch) and reports its own peak RSS.

    python benchmarks/gpt.py                      # 1500 steps (~10 min on a quiet 2-core box)
    python benchmarks/gpt.py --steps 200          # a quick look
    python benchmarks/gpt.py --threads 2          # BLAS / OpenMP threads for both (default 1)
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gpt.py   # unpinned BLAS
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

VOCAB, BLOCK, LAYERS, HEADS, WIDTH = 27, 32, 4, 4, 64
BATCH, LR, WEIGHT_DECAY, CLIP, STRIDE = 64, 3e-3, 0.01, 1.0, 8


def set_threads(n: int) -> None:
    """Before NumPy/torch load: the same number of BLAS/OpenMP threads for both libraries."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def data(seed: int = 0) -> dict[str, Any]:
    import numpy as np

    from chainrule.data.text import names

    corpus = names()
    x, y = corpus.windows("train", BLOCK, STRIDE)
    xv, yv = corpus.windows("val", BLOCK)
    return {"x": x, "y": y, "xv": xv, "yv": yv, "rng": np.random.default_rng(seed),
            "vocab": corpus.vocab}


def lr_at(step: int, steps: int) -> float:
    return LR * 0.5 * (1 + math.cos(math.pi * step / steps))


# ----------------------------------------------------------------------------- chainrule
class Chainrule:
    name = "chainrule"

    def __init__(self, seed: int) -> None:
        import chainrule as cr
        from chainrule import nn, optim

        cr.manual_seed(seed)
        self.cr, self.model = cr, nn.gpt(VOCAB, BLOCK, LAYERS, HEADS, WIDTH)
        self.opt = optim.AdamW(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.params = self.model.parameters()

    def step(self, xb: Any, yb: Any, lr: float) -> float:
        import chainrule.nn.functional as F
        from chainrule.optim import clip_grad_norm_

        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.zero_grad()
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        clip_grad_norm_(self.params, CLIP)
        self.opt.step()
        return float(loss.item())

    def val_loss(self, xv: Any, yv: Any) -> float:
        from chainrule.training.language import nats_per_char

        return nats_per_char(self.model, xv, yv)

    def state(self) -> dict[str, Any]:
        return self.model.state_dict()


# ----------------------------------------------------------------------------- PyTorch
def torch_gpt() -> Any:
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
            self.attn = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(WIDTH, 4 * WIDTH),
                                      "c_proj": nn.Linear(4 * WIDTH, WIDTH)})

        def forward(self, x: Any, mask: Any) -> Any:
            h = self.ln_1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False, is_causal=True)[0]
            return x + self.mlp["c_proj"](nn.functional.gelu(self.mlp["c_fc"](self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(VOCAB, WIDTH), nn.Embedding(BLOCK, WIDTH)
            self.h = nn.ModuleList([Block() for _ in range(LAYERS)])
            self.ln_f = nn.LayerNorm(WIDTH)

        def forward(self, idx: Any) -> Any:
            t = idx.shape[1]
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
            x = self.wte(idx) + self.wpe(torch.arange(t))
            for blk in self.h:
                x = blk(x, mask)
            return self.ln_f(x) @ self.wte.weight.T      # tied head

    return GPT()


class Torch:
    name = "pytorch"

    def __init__(self, state: dict[str, Any]) -> None:
        import torch

        self.torch = torch
        self.model = torch_gpt()
        self.model.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

    def step(self, xb: Any, yb: Any, lr: float) -> float:
        torch = self.torch
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.model.train()
        self.opt.zero_grad()
        logits = self.model(torch.from_numpy(xb))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB),
                                                 torch.from_numpy(yb).reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
        self.opt.step()
        return float(loss.item())

    def val_loss(self, xv: Any, yv: Any) -> float:
        torch = self.torch
        self.model.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(0, len(xv), 256):
                logits = self.model(torch.from_numpy(xv[i:i + 256]))
                total += float(torch.nn.functional.cross_entropy(
                    logits.reshape(-1, VOCAB), torch.from_numpy(yv[i:i + 256]).reshape(-1),
                    reduction="sum"))
        return total / yv.size


# ----------------------------------------------------------------------------- memory
def worker(lib: str, steps: int, seed: int) -> None:
    """Train ``steps`` steps with one library only and print its peak RSS (MB) as JSON."""
    d = data(seed)
    base = vm_hwm_mb()
    runner: Any = Chainrule(seed)
    if lib == "pytorch":
        runner = Torch(runner.state())
    for _ in range(steps):
        idx = d["rng"].integers(0, len(d["x"]), BATCH)
        runner.step(d["x"][idx], d["y"][idx], LR)
    print(json.dumps({"lib": lib, "peak_rss_mb": vm_hwm_mb(), "after_imports_mb": base}))


def vm_hwm_mb() -> float:
    """This process's peak resident set (VmHWM, reset by exec; ru_maxrss is not, so a child
    forked from a large parent would report the parent's size)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss(lib: str, steps: int, seed: int, threads: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--worker", lib, "--steps", str(steps),
                          "--seed", str(seed), "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--memory-steps", type=int, default=50)
    ap.add_argument("--worker", choices=("chainrule", "pytorch"), default=None)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    set_threads(args.threads)
    if args.worker:
        worker(args.worker, args.steps, args.seed)
        return

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    d = data(args.seed)
    cr_run = Chainrule(args.seed)
    pt_run = Torch(cr_run.state())
    load1 = os.getloadavg()[0]
    print(f"char GPT {LAYERS} layers x {HEADS} heads x {WIDTH} wide, block {BLOCK}, batch {BATCH}; "
          f"{args.steps} steps; {args.threads} thread(s) each; load average {load1:.2f} on "
          f"{os.cpu_count()} cores; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}",
          flush=True)
    times: dict[str, list[float]] = {"chainrule": [], "pytorch": []}
    losses: dict[str, list[float]] = {"chainrule": [], "pytorch": []}
    t_all = time.perf_counter()
    for k in range(args.steps):
        idx = d["rng"].integers(0, len(d["x"]), BATCH)
        xb, yb = d["x"][idx], d["y"][idx]
        lr = lr_at(k, args.steps)
        order = (cr_run, pt_run) if k % 2 == 0 else (pt_run, cr_run)   # alternate who goes first
        for run in order:
            t0 = time.perf_counter()
            losses[run.name].append(run.step(xb, yb, lr))
            times[run.name].append(time.perf_counter() - t0)
        if (k + 1) % max(1, args.steps // 10) == 0:
            print(f"step {k + 1}: train loss chainrule {np.mean(losses['chainrule'][-50:]):.4f}  "
                  f"pytorch {np.mean(losses['pytorch'][-50:]):.4f}   median step "
                  f"{statistics.median(times['chainrule'][-50:]) * 1e3:.1f} / "
                  f"{statistics.median(times['pytorch'][-50:]) * 1e3:.1f} ms", flush=True)
    wall = time.perf_counter() - t_all
    val = {r.name: r.val_loss(d["xv"], d["yv"]) for r in (cr_run, pt_run)}
    med = {n: statistics.median(t[5:] or t) for n, t in times.items()}
    tokens = BATCH * BLOCK
    mem = {lib: peak_rss(lib, args.memory_steps, args.seed, args.threads)
           for lib in ("chainrule", "pytorch")}
    samples = sample(cr_run, d["vocab"])
    result = {
        "steps": args.steps, "threads": args.threads, "load_average_start": load1,
        "load_average_end": os.getloadavg()[0], "wall_seconds": wall,
        "median_step_ms": {n: v * 1e3 for n, v in med.items()},
        "step_time_ratio_chainrule_over_pytorch": med["chainrule"] / med["pytorch"],
        "tokens_per_second": {n: tokens / v for n, v in med.items()},
        "val_nats_per_char": val, "val_perplexity": {n: math.exp(v) for n, v in val.items()},
        "val_gap_nats": val["chainrule"] - val["pytorch"],
        "peak_rss_mb": {lib: m["peak_rss_mb"] for lib, m in mem.items()},
        "chainrule_samples": samples,
    }
    print(f"median step: chainrule {med['chainrule'] * 1e3:.1f} ms, PyTorch {med['pytorch'] * 1e3:.1f} ms "
          f"-> ratio {result['step_time_ratio_chainrule_over_pytorch']:.2f}x")
    print(f"tokens/s: chainrule {tokens / med['chainrule']:.0f}, PyTorch {tokens / med['pytorch']:.0f}")
    print(f"validation after {args.steps} steps: chainrule {val['chainrule']:.4f} nats/char "
          f"(perplexity {math.exp(val['chainrule']):.2f}), PyTorch {val['pytorch']:.4f} "
          f"(perplexity {math.exp(val['pytorch']):.2f}); gap {result['val_gap_nats']:+.4f}")
    print(f"peak RSS ({args.memory_steps} steps, own process): chainrule "
          f"{mem['chainrule']['peak_rss_mb']:.0f} MB, PyTorch {mem['pytorch']['peak_rss_mb']:.0f} MB")
    print(f"load average {load1:.2f} at the start, {result['load_average_end']:.2f} at the end")
    print("chainrule samples (temperature 0.8, seed 0): " + ", ".join(samples))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


def sample(run: Chainrule, vocab: str) -> list[str]:
    from chainrule.training.language import sample_words

    return sample_words(run.model, vocab, 20, temperature=0.8, seed=0)


if __name__ == "__main__":
    main()
