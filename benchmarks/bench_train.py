"""Does SMA (and AZO) help? The default job's network with and without them, same seed, same budget.

Trains, on the built-in synthetic-gestures data (T=8, 32x32, 8 classes), the vgg5 network three ways:
plain (``vgg5``), with SMA after the convs of blocks 2 and 3 (``vgg5-sma``), and with SMA plus AZO
(``vgg5-sma`` + ``azo``, the default of ``snnctl train``). Every variant gets the same epochs, batch
size, learning-rate schedule and seeds; the script prints best and last test accuracy per seed and
their means side by side, plus the training time.

    python benchmarks/bench_train.py                 # 12 epochs, seeds 0 1 2
    python benchmarks/bench_train.py --epochs 6 --seeds 0

The pairs of classes (left/right, up/down, clockwise/counterclockwise, expand/contract) differ only
in the order of their frames, so the task needs temporal information.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

VARIANTS = [
    ("vgg5", "vgg5", []),
    ("vgg5-sma", "vgg5-sma", []),
    ("vgg5-sma + azo", "vgg5-sma", [{"name": "azo"}]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    import torch

    from snnctl.config import resolve_config
    from snnctl.engine.train import train

    torch.set_num_threads(torch.get_num_threads())
    results: dict[str, list[tuple[float, float, float, float]]] = {label: [] for label, _, _ in VARIANTS}
    with tempfile.TemporaryDirectory() as out:
        for seed in args.seeds:
            for label, model, regs in VARIANTS:
                cfg = resolve_config(flags={"model": {"name": model}, "regularizers": regs, "seed": seed,
                                            "epochs": args.epochs, "batch_size": args.batch_size,
                                            "output_dir": out})
                t0 = time.perf_counter()
                r = train(cfg)
                seconds = time.perf_counter() - t0
                results[label].append((r.best_acc, r.last_acc, r.firing_rate, seconds))
                print(f"seed {seed} {label:15s} best {r.best_acc:6.2%} (epoch {r.best_epoch:2d})  "
                      f"last {r.last_acc:6.2%}  firing {r.firing_rate:.3f}  {seconds:6.1f} s", flush=True)

    print(f"\nsynthetic-gestures, {args.epochs} epochs, batch {args.batch_size}, seeds {args.seeds}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'variant':16s} {'best (mean)':>12s} {'last (mean)':>12s} {'last per seed':>24s} {'firing':>7s} {'time/run':>9s}")
    for label, rows in results.items():
        best = statistics.mean(r[0] for r in rows)
        last = statistics.mean(r[1] for r in rows)
        per_seed = " ".join(f"{r[1]:.3f}" for r in rows)
        print(f"{label:16s} {best:12.2%} {last:12.2%} {per_seed:>24s} {statistics.mean(r[2] for r in rows):7.3f} "
              f"{statistics.mean(r[3] for r in rows):8.1f}s")


if __name__ == "__main__":
    main()
