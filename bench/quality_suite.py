"""The quality suite: one table of what ksparse.KSparseAutoencoder's DEFAULT parameters
(only n_hidden, k and random_state set) learn on the data users bring, beside a PyTorch
TopK autoencoder trained with the field's published recipe for the same number of steps.

Rows (``--rows NAME ...`` selects; ``--list`` prints them):

- ``mnist_k5`` ... ``mnist_k50``: the MNIST table (784 -> 100 on the 5,000 bundled
  images, MSE on the first 1,000 test images; bench/quality_table.py's loader);
- ``fashion_k25``: 784 -> 1000, k=25 on ``--fashion-n`` (20,000) Fashion-MNIST training
  images (Debian's ``dataset-fashion-mnist``), MSE on the 10,000 test images; skipped
  with a message when the folder is missing;
- ``planted_*``: planted dictionaries (bench/_planted.py), the model has one unit per
  atom; atoms recovered (a decoder row with cosine > 0.9), the same for the rarest
  quartile of atoms, mean best cosine, FVU on held-out samples;
- ``act_*``: activation-like data (planted atoms, a few dimensions with 10-100x the
  variance, heavy-tailed norms, a large shared mean, not in unit range).

The peer (``--no-torch`` leaves it out) is a PyTorch TopK autoencoder: inputs scaled to
unit mean squared norm, decoder bias initialised at the data mean and subtracted from
the input, encoder initialised as the decoder's transpose, unit-norm decoder rows with
the parallel gradient component removed, Adam at lr = 2e-4 / sqrt(m / 2**14) (linear
warm-up over the first 5% of steps, at most 1,000), FVU loss, AuxK at 1/32 on the units
silent for ksparse's ``dead_samples`` window, ksparse's batch size, top-k on
pre-activations then ReLU, sparse decoding by ``embedding_bag``. Both train on one
thread; with ``--jobs 2`` two trainings run at once (each on one thread).

Usage (from the repository root)::

    python bench/quality_suite.py [--quick] [--rows NAME ...] [--seeds 0 1 2] [--steps N]
        [--fashion-n 20000] [--no-torch] [--jobs 1] [--json PATH]

docs/quality.md holds the table as measured and the targets it is read against.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Dict, List, Optional

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import _planted  # noqa: E402
from quality_table import load_mnist_subset  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
BATCH_DEFAULT = 32  # only used if the estimator cannot be asked
AUXK_COEF = 1.0 / 32

# name -> spec. "kind": mnist | fashion | planted | act
ROWS: Dict[str, Dict[str, Any]] = {}
for _k in (5, 10, 20, 30, 50):
    ROWS[f"mnist_k{_k}"] = {"kind": "mnist", "n": 784, "m": 100, "k": _k}
ROWS["fashion_k25"] = {"kind": "fashion", "n": 784, "m": 1000, "k": 25}
for _n, _m, _k, _freq, _ns in [
    (64, 512, 4, "uniform", 20000),
    (64, 512, 4, "zipf", 20000),
    (128, 1024, 8, "zipf", 30000),
    (256, 2048, 16, "uniform", 40000),
    (256, 2048, 16, "zipf", 40000),
    (768, 8192, 32, "zipf", 50000),
]:
    ROWS[f"planted_n{_n}_m{_m}_k{_k}_{_freq}"] = {"kind": "planted", "n": _n, "m": _m, "k": _k,
                                                  "freq": _freq, "samples": _ns}
for _n, _m, _k, _ns in [(64, 512, 4, 20000), (256, 2048, 16, 40000)]:
    ROWS[f"act_n{_n}_m{_m}_k{_k}_zipf"] = {"kind": "act", "n": _n, "m": _m, "k": _k, "freq": "zipf",
                                           "samples": _ns}
QUICK_ROWS = ["planted_n64_m512_k4_zipf", "act_n64_m512_k4_zipf"]
N_TEST_PLANTED = 5000
NOISE = 0.1


# ---------------------------------------------------------------------- data
def load_row(name: str, seed: int, fashion_n: int = 20000, fashion_dir: str = FASHION) -> Optional[Dict[str, Any]]:
    """The data of a row: X_train, X_test (float32), and for planted rows atoms and counts.
    None (with a message) when the row's data is missing."""
    spec = ROWS[name]
    if spec["kind"] == "mnist":
        Xtr, _, Xte, _ = load_mnist_subset()
        return {"X_train": np.ascontiguousarray(Xtr, dtype=np.float32),
                "X_test": np.ascontiguousarray(Xte[:1000], dtype=np.float32)}
    if spec["kind"] == "fashion":
        if not os.path.isdir(fashion_dir):
            print(f"{name}: skipped, {fashion_dir} does not exist (apt-get install dataset-fashion-mnist)",
                  file=sys.stderr)
            return None
        from ksparse.datasets import load_idx_folder

        Xtr, _, Xte, _ = load_idx_folder(fashion_dir)
        sel = np.random.default_rng(0).permutation(len(Xtr))[:fashion_n]  # as bench/dead_units.py
        return {"X_train": np.ascontiguousarray(Xtr[sel], dtype=np.float32),
                "X_test": np.ascontiguousarray(Xte, dtype=np.float32)}
    make = _planted.make_planted if spec["kind"] == "planted" else _planted.make_activation_like
    return make(spec["n"], spec["m"], spec["k"], spec["samples"], N_TEST_PLANTED, freq=spec["freq"],
                noise=NOISE, seed=seed)


def uses_fvu(name: str) -> bool:
    return ROWS[name]["kind"] in ("planted", "act")


def has_atoms(data: Dict[str, Any]) -> bool:
    return "atoms" in data


# ---------------------------------------------------------------------- ksparse
def ksparse_estimator(m: int, k: int, seed: int, epochs: Optional[int] = None):
    from ksparse import KSparseAutoencoder

    extra = {} if epochs is None else {"n_epochs": epochs}
    return KSparseAutoencoder(n_hidden=m, k=k, random_state=seed, **extra)


def plan_steps(name: str, n_train: int, seed: int, steps: Optional[int] = None):
    """(epochs or None, batch size, optimizer steps) for a row: n_epochs="auto" unless
    ``steps`` overrides it (rounded up to whole epochs)."""
    spec = ROWS[name]
    est = ksparse_estimator(spec["m"], spec["k"], seed)
    B = min(int(est.batch_size), n_train)
    spe = -(-n_train // B)
    if steps is None:
        return None, B, est.epochs_for(n_train) * spe
    epochs = max(1, -(-int(steps) // spe))
    return epochs, B, epochs * spe


def evaluate(name: str, data: Dict[str, Any], W_dec: np.ndarray, Xh_test: np.ndarray) -> Dict[str, Any]:
    """The row's error (MSE for the image rows, FVU for the others) and, with a planted
    dictionary, the recovery figures."""
    X = data["X_test"]
    out: Dict[str, Any] = {}
    if uses_fvu(name):
        out["fvu"] = _planted.fvu(X, Xh_test)
    else:
        out["mse"] = float(np.mean((X.astype(np.float64) - Xh_test) ** 2))
    if has_atoms(data):
        out.update(_planted.recovery(W_dec, data["atoms"], data["counts"]))
    return out


def run_ksparse(name: str, data: Dict[str, Any], seed: int, epochs: Optional[int]) -> Dict[str, Any]:
    spec = ROWS[name]
    est = ksparse_estimator(spec["m"], spec["k"], seed, epochs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(data["X_train"])
        secs = time.perf_counter() - t0
    Xh = est.reconstruct(data["X_test"]).astype(np.float64)
    out = evaluate(name, data, est.W_dec_, Xh)
    if not uses_fvu(name):  # the MNIST table's figure is the estimator's own score
        out["mse"] = float(-est.score(data["X_test"]))
    out.update({"dead": float(est.history_["dead_fraction"][-1]), "seconds": secs,
                "epochs": int(est.n_iter_),
                "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})})
    return out


# ---------------------------------------------------------------------- the PyTorch peer
def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def make_adam(params, lr: float):
    """Adam with fused=True where this torch has it on CPU, else foreach; and which."""
    import torch

    try:
        opt = torch.optim.Adam(params, lr=lr, fused=True)
        # some builds accept the flag and fail at the first step: try one on a copy
        probe = [torch.zeros(2, requires_grad=True)]
        p_opt = torch.optim.Adam(probe, lr=lr, fused=True)
        probe[0].grad = torch.ones(2)
        p_opt.step()
        return opt, "fused"
    except Exception:
        return torch.optim.Adam(params, lr=lr, foreach=True), "foreach"


def peer_lr(m: int) -> float:
    return 2e-4 / math.sqrt(m / 2 ** 14)


def train_peer(X: np.ndarray, m: int, k: int, steps: int, batch_size: int, seed: int,
               dead_window: int, threads: int = 1) -> Dict[str, Any]:
    """A TopK autoencoder trained with the published recipe; returns its weights in the
    input's units (W_dec (m, n) unit rows, b_dec, scale) and its training figures."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(int(seed))
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    N, n = Xt.shape
    scale = float(1.0 / math.sqrt(float((Xt.double() ** 2).sum(1).mean())))
    Xs = Xt * scale
    W = torch.randn(m, n, generator=g)
    W /= W.norm(dim=1, keepdim=True)
    W_dec = torch.nn.Parameter(W.clone())
    W_enc = torch.nn.Parameter(W.clone())  # encoder = decoder transpose (both stored (m, n))
    b_enc = torch.nn.Parameter(torch.zeros(m))
    b_dec = torch.nn.Parameter(Xs.mean(0).clone())
    lr = peer_lr(m)
    opt, adam_kind = make_adam([W_enc, b_enc, W_dec, b_dec], lr)
    warm = min(1000, max(1, int(0.05 * steps)))
    since = torch.zeros(m, dtype=torch.int64)
    k_aux = max(1, n // 2)
    B = min(batch_size, N)
    perm = torch.randperm(N, generator=g)
    pos = 0
    t0 = time.perf_counter()
    for step in range(steps):
        if pos >= N:  # a new pass; the last batch of a pass may be short, as ksparse's
            perm = torch.randperm(N, generator=g)
            pos = 0
        ib = perm[pos:pos + B]
        pos += B
        x = Xs[ib]
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warm)
        pre = F.linear(x - b_dec, W_enc, b_enc)
        top_v, top_i = pre.topk(k, dim=1, sorted=False)
        top_v = F.relu(top_v)
        xh = F.embedding_bag(top_i, W_dec, per_sample_weights=top_v, mode="sum") + b_dec
        e = x - xh
        tv = (x - x.mean(0)).pow(2).sum()
        loss = e.pow(2).sum() / tv
        with torch.no_grad():
            since += x.shape[0]
            since[top_i[top_v > 0]] = 0
            dead = since >= dead_window
            n_dead = int(dead.sum())
        if n_dead > 0:
            ka = min(k_aux, n_dead)
            aux_pre = pre.masked_fill(~dead, float("-inf"))
            av, ai = aux_pre.topk(ka, dim=1, sorted=False)
            av = F.relu(av)
            e_hat = F.embedding_bag(ai, W_dec, per_sample_weights=av, mode="sum")
            aux = (e_hat - e.detach()).pow(2).sum() / tv * min(n_dead / k_aux, 1.0)
            loss = loss + AUXK_COEF * aux
        opt.zero_grad(set_to_none=False)
        loss.backward()
        with torch.no_grad():
            gW = W_dec.grad
            gW -= (gW * W_dec).sum(1, keepdim=True) * W_dec  # no component along the unit rows
        opt.step()
        with torch.no_grad():
            W_dec /= W_dec.norm(dim=1, keepdim=True)
    secs = time.perf_counter() - t0
    return {"W_enc": W_enc.detach().numpy().copy(), "b_enc": b_enc.detach().numpy().copy(),
            "W_dec": W_dec.detach().numpy().copy(), "b_dec": b_dec.detach().numpy().copy(),
            "scale": scale, "seconds": secs, "dead": float((since >= dead_window).double().mean()),
            "adam": adam_kind, "lr": lr, "final_loss": float(loss.detach())}


def peer_reconstruct(p: Dict[str, Any], X: np.ndarray, k: int) -> np.ndarray:
    """The peer's reconstruction of X, in X's units (float64)."""
    Xs = X.astype(np.float64) * p["scale"]
    pre = (Xs - p["b_dec"]) @ p["W_enc"].T.astype(np.float64) + p["b_enc"]
    idx = np.argpartition(-pre, k - 1, axis=1)[:, :k]
    val = np.maximum(np.take_along_axis(pre, idx, axis=1), 0.0)
    Xh = np.einsum("sk,skn->sn", val, p["W_dec"].astype(np.float64)[idx]) + p["b_dec"]
    return Xh / p["scale"]


def run_peer(name: str, data: Dict[str, Any], seed: int, steps: int, batch_size: int) -> Dict[str, Any]:
    spec = ROWS[name]
    window = int(ksparse_estimator(spec["m"], spec["k"], seed).dead_samples)
    p = train_peer(data["X_train"], spec["m"], spec["k"], steps, batch_size, seed, window)
    Xh = np.concatenate([peer_reconstruct(p, data["X_test"][s:s + 2048], spec["k"])
                         for s in range(0, len(data["X_test"]), 2048)])
    out = evaluate(name, data, p["W_dec"], Xh)
    out.update({"dead": p["dead"], "seconds": p["seconds"], "adam": p["adam"], "lr": p["lr"]})
    return out


# ---------------------------------------------------------------------- one task
def run_task(task: Dict[str, Any]) -> Dict[str, Any]:
    """One training (ksparse or the peer) of one row and seed; data made in-process."""
    name, seed, who = task["row"], task["seed"], task["who"]
    data = load_row(name, seed, task.get("fashion_n", 20000), task.get("fashion_dir", FASHION))
    if data is None:
        return {**task, "skipped": True}
    epochs, B, steps = plan_steps(name, len(data["X_train"]), seed, task.get("steps"))
    res = run_ksparse(name, data, seed, epochs) if who == "ksparse" else run_peer(name, data, seed, steps, B)
    return {**task, "samples": int(len(data["X_train"])), "steps": int(steps), "batch_size": int(B), **res}


def cost(task: Dict[str, Any]) -> float:
    s = ROWS[task["row"]]
    return s["n"] * s["m"] * (3 if task["who"] == "torch" else 1)


def run_tasks(tasks: List[Dict[str, Any]], jobs: int = 1, log=print) -> List[Dict[str, Any]]:
    results = []
    if jobs <= 1:
        for t in tasks:
            r = run_task(t)
            log(_progress(r))
            results.append(r)
        return results
    order = sorted(range(len(tasks)), key=lambda i: cost(tasks[i]), reverse=True)  # the longest first
    done: Dict[int, Dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        futs = {ex.submit(run_task, tasks[i]): i for i in order}
        for f in as_completed(futs):
            r = f.result()
            log(_progress(r))
            done[futs[f]] = r
    return [done[i] for i in range(len(tasks))]  # in the tasks' order


def _progress(r: Dict[str, Any]) -> str:
    if r.get("skipped"):
        return f"  {r['row']} seed {r['seed']} {r['who']}: skipped"
    err = r.get("fvu", r.get("mse"))
    return (f"  {r['row']} seed {r['seed']} {r['who']}: err {err:.4f} dead {r['dead']:.3f} "
            f"atoms {r.get('recovered', float('nan')):.3f} {r['seconds']:.0f} s")


# ---------------------------------------------------------------------- the table
METRICS = ["err", "recovered", "rare", "mean_max_cos", "dead", "seconds"]


def aggregate(results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One line per row: per trainer, each metric's min and mean over the seeds."""
    lines = []
    for name in dict.fromkeys(r["row"] for r in results):
        rs = [r for r in results if r["row"] == name and not r.get("skipped")]
        if not rs:
            lines.append({"row": name, "skipped": True})
            continue
        spec = ROWS[name]
        line: Dict[str, Any] = {"row": name, "n": spec["n"], "m": spec["m"], "k": spec["k"],
                                "samples": rs[0]["samples"], "steps": rs[0]["steps"],
                                "err_name": "FVU" if uses_fvu(name) else "MSE",
                                "seeds": sorted({r["seed"] for r in rs})}
        for who in ("ksparse", "torch"):
            wr = [r for r in rs if r["who"] == who]
            if not wr:
                continue
            agg: Dict[str, Any] = {}
            for key in METRICS:
                vals = [r.get("fvu", r.get("mse")) if key == "err" else r.get(key) for r in wr]
                vals = [v for v in vals if v is not None]
                if vals:
                    agg[key] = {"min": float(min(vals)), "mean": float(np.mean(vals)), "max": float(max(vals))}
            if who == "torch":
                agg["adam"] = wr[0].get("adam")
            agg["warnings"] = sorted({w for r in wr for w in r.get("warnings", [])})
            line[who] = agg
        lines.append(line)
    return lines


def _cell(agg: Optional[Dict[str, Any]], key: str, fmt: str, scale: float = 1.0, multi: bool = False) -> str:
    if not agg or key not in agg:
        return "-"
    a = agg[key]
    if multi and a["min"] != a["max"]:
        return f"{fmt.format(a['min'] * scale)}/{fmt.format(a['mean'] * scale)}"
    return fmt.format(a["mean"] * scale)


def format_table(lines: List[Dict[str, Any]]) -> str:
    cols = [("row", 32), ("n", 4), ("m", 5), ("k", 3), ("samples", 7), ("steps", 6), ("err", 6)]
    per = [("err", "{:.4f}", 1.0), ("recovered", "{:.1f}", 100.0), ("rare", "{:.1f}", 100.0),
           ("mean_max_cos", "{:.3f}", 1.0), ("dead", "{:.1f}", 100.0), ("seconds", "{:.0f}", 1.0)]
    heads = ["FVU/MSE", "atoms%", "rare%", "maxcos", "dead%", "s"]
    multi = any(len(l.get("seeds", [])) > 1 for l in lines)
    w = 13 if multi else 7
    hdr = (f"{'row':<32} {'n':>4} {'m':>5} {'k':>3} {'samples':>7} {'steps':>6} | "
           + " ".join(f"{h:>{w}}" for h in heads) + " | " + " ".join(f"{h:>{w}}" for h in heads))
    top = " " * 62 + "| " + f"{'ksparse (defaults)':<{(w + 1) * 6 - 1}}" + " | " + "PyTorch peer (recipe)"
    out = [top, hdr, "-" * len(hdr)]
    for l in lines:
        if l.get("skipped"):
            out.append(f"{l['row']:<32} (skipped: data missing)")
            continue
        left = (f"{l['row']:<32} {l['n']:>4} {l['m']:>5} {l['k']:>3} {l['samples']:>7} {l['steps']:>6} | ")
        cells = []
        for who in ("ksparse", "torch"):
            a = l.get(who)
            cells.append(" ".join(f"{_cell(a, key, fmt, sc, multi):>{w}}" for key, fmt, sc in per))
        out.append(left + cells[0] + " | " + cells[1])
    del cols
    return "\n".join(out)


def check_targets(lines: List[Dict[str, Any]]) -> List[str]:
    """The issue's targets, each miss as a sentence (worst seed: min of recoveries, max of
    FVU and dead share)."""
    miss = []
    for l in lines:
        a, p = l.get("ksparse"), l.get("torch")
        if l.get("skipped") or not a:
            continue
        name = l["row"]
        if "recovered" in a:
            rec, rare = a["recovered"]["min"], a["rare"]["min"]
            if rec < 0.98:
                miss.append(f"{name}: atoms recovered {100 * rec:.1f}% < 98%")
            if rare < 0.95:
                miss.append(f"{name}: rarest quartile {100 * rare:.1f}% < 95%")
            if p and "recovered" in p:
                if rec < p["recovered"]["min"]:
                    miss.append(f"{name}: atoms recovered {100 * rec:.1f}% < peer's {100 * p['recovered']['min']:.1f}%")
                if rare < p["rare"]["min"]:
                    miss.append(f"{name}: rarest quartile {100 * rare:.1f}% < peer's {100 * p['rare']['min']:.1f}%")
            if a["dead"]["max"] > 0.05:  # planted rows: as many units as atoms
                miss.append(f"{name}: {100 * a['dead']['max']:.1f}% dead > 5%")
        if p and "err" in p and a["err"]["mean"] > p["err"]["mean"]:
            miss.append(f"{name}: {l['err_name']} {a['err']['mean']:.4f} worse than the peer's {p['err']['mean']:.4f}")
        if p and "seconds" in p and a["seconds"]["mean"] > p["seconds"]["mean"] / 5:
            miss.append(f"{name}: {a['seconds']['mean']:.0f} s > 1/5 of the peer's {p['seconds']['mean']:.0f} s "
                        f"(ratio {a['seconds']['mean'] / p['seconds']['mean']:.2f})")
    return miss


# ---------------------------------------------------------------------- main
def build_tasks(rows: List[str], seeds: List[int], steps: Optional[int], with_torch: bool,
                fashion_n: int = 20000, fashion_dir: str = FASHION) -> List[Dict[str, Any]]:
    tasks = []
    for name in rows:
        row_seeds = seeds if uses_fvu(name) else seeds[:1]  # the image rows: the first seed
        for seed in row_seeds:
            for who in (("ksparse", "torch") if with_torch else ("ksparse",)):
                tasks.append({"row": name, "seed": int(seed), "who": who, "steps": steps,
                              "fashion_n": fashion_n, "fashion_dir": fashion_dir})
    return tasks


def run_suite(rows: List[str], seeds=(0,), steps: Optional[int] = None, with_torch: bool = True,
              jobs: int = 1, fashion_n: int = 20000, fashion_dir: str = FASHION, log=print) -> Dict[str, Any]:
    """Run the rows and return {"rows": aggregated lines, "results": per task, "misses"}."""
    with_torch = with_torch and torch_available()
    tasks = build_tasks(rows, list(seeds), steps, with_torch, fashion_n, fashion_dir)
    results = run_tasks(tasks, jobs, log)
    lines = aggregate(results)
    return {"rows": lines, "results": results, "misses": check_targets(lines), "torch": with_torch}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", nargs="+", default=None, help="rows to run (default all; see --list)")
    ap.add_argument("--list", action="store_true", help="print the rows and exit")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_ROWS)} (under 2 minutes)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the planted / activation rows")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default: n_epochs='auto')")
    ap.add_argument("--fashion-n", type=int, default=20000, help="Fashion-MNIST training images")
    ap.add_argument("--fashion-dir", default=FASHION)
    ap.add_argument("--no-torch", action="store_true", help="leave out the PyTorch peer")
    ap.add_argument("--jobs", type=int, default=1, help="trainings run at once (each on one thread)")
    ap.add_argument("--json", default=None, help="write the table and every run to this JSON file")
    args = ap.parse_args(argv)
    if args.list:
        for name, spec in ROWS.items():
            print(name, spec)
        return 0
    rows = args.rows or (QUICK_ROWS if args.quick else list(ROWS))
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; --list shows them")
    if not args.no_torch and not torch_available():
        print("torch is not importable: the peer columns are left empty", file=sys.stderr)
    t0 = time.perf_counter()
    out = run_suite(rows, args.seeds, args.steps, not args.no_torch, args.jobs, args.fashion_n, args.fashion_dir)
    wall = time.perf_counter() - t0
    print()
    print(format_table(out["rows"]))
    adam = {l["torch"]["adam"] for l in out["rows"] if l.get("torch")}
    if adam:
        print(f"\npeer's Adam: {', '.join(sorted(adam))}")
    for l in out["rows"]:
        for w in (l.get("ksparse") or {}).get("warnings", []):
            print(f"ksparse warning on {l['row']}: {w}")
    print(f"\ntargets missed ({len(out['misses'])}):")
    for s in out["misses"]:
        print("  " + s)
    print(f"\nsuite wall time {wall:.0f} s (jobs={args.jobs})")
    if args.json:
        import platform

        meta = {"argv": sys.argv if argv is None else ["bench/quality_suite.py", *argv], "wall_seconds": wall,
                "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.platform(),
                "cpus": os.cpu_count(), "jobs": args.jobs}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, **out}, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
