"""One SMA forward+backward: snnctl's `sma` against a straightforward implementation of the same maths.

    python benchmarks/bench_sma.py [--channels 128] [--timesteps 16] [--batch 4] [--size 64] [--repeats 3]

The straightforward version (tests/reference_sma.py) follows the spec's pseudocode: N separate branch
modules, the branches stacked into one [N, T, B, C, H, W] tensor, the weighted branches materialised
as a second such tensor and summed, AZO as a clone plus an indexed copy. It runs twice: with snnctl's
fused LIF in its branches (so only the SMA structure differs) and with a per-step LIF loop (what a
from-scratch implementation would write). Both compute the same output as snnctl's SMA from the same
weights (the 'max |diff|' column). Each implementation runs in its own process (see _measure.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _measure import measure, run_children

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

IMPLEMENTATIONS = ["snnctl", "snnctl+azo", "straight", "straight+azo", "straight-looplif"]


def build(impl: str, c: int, t: int):
    import torch

    import snnctl
    from reference_sma import StraightSMA

    torch.manual_seed(0)
    ours = snnctl.create("attention", "sma", channels=c, timesteps=t)
    if impl.endswith("+azo"):
        snnctl.create("regularizer", "azo", rtr=4, rcr=10).attach(torch.nn.Sequential(ours))
    if impl.startswith("snnctl"):
        return ours, ours
    ref = StraightSMA(c, t, azo=(4, 10) if impl.endswith("+azo") else None).load_from(ours)
    if impl != "straight-looplif":
        ref.acts = torch.nn.ModuleList(snnctl.create("neuron", "lif") for _ in ref.acts)
    return ref, ours


def child(impl: str, c: int, t: int, b: int, size: int, repeats: int, threads: int) -> dict:
    import torch

    from snnctl.nn import reset_states

    torch.set_num_threads(threads)
    module, ours = build(impl, c, t)
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(t, b, c, size, size, generator=gen) * 2).requires_grad_()
    up = torch.randn(t, b, c, size, size, generator=gen)

    def step() -> None:
        module(x).backward(up)
        x.grad = None
        module.zero_grad(set_to_none=True)
        reset_states(module)

    result = measure(step, repeats, warmup=1)
    with torch.no_grad():
        reset_states(module)
        reset_states(ours)
        diff = (module(x) - ours(x)).abs().max().item() if module is not ours else 0.0
    return {"impl": impl, **result, "max_diff": diff}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--timesteps", type=int, default=16)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--impl", choices=IMPLEMENTATIONS, nargs="+", default=IMPLEMENTATIONS)
    p.add_argument("--child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = p.parse_args()
    shape = [args.channels, args.timesteps, args.batch, args.size, args.repeats, args.threads]
    if args.child:
        print(json.dumps(child(args.child, *shape)))
        return

    import torch

    results = run_children(__file__, args.impl, [
        "--channels", str(args.channels), "--timesteps", str(args.timesteps), "--batch", str(args.batch),
        "--size", str(args.size), "--repeats", str(args.repeats), "--threads", str(args.threads)])
    act_mib = args.timesteps * args.batch * args.channels * args.size**2 * 4 / 2**20
    print(f"SMA forward+backward, C={args.channels} T={args.timesteps} B={args.batch} {args.size}x{args.size} "
          f"float32 (activation {act_mib:.0f} MiB), LIF branches, torch {torch.__version__}, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"{'implementation':<18} {'median ms':>10} {'min ms':>9} {'peak extra MiB':>15} {'max |diff|':>11}")
    for r in results:
        print(f"{r['impl']:<18} {r['median_ms']:>10.0f} {r['min_ms']:>9.0f} {r['peak_extra_mib']:>15.0f} "
              f"{r['max_diff']:>11.2e}")
    by = {r["impl"]: r for r in results}
    for mine, theirs in (("snnctl", "straight"), ("snnctl", "straight-looplif"), ("snnctl+azo", "straight+azo")):
        if mine in by and theirs in by:
            a, b = by[mine], by[theirs]
            print(f"{mine} vs {theirs}: {b['median_ms'] / a['median_ms']:.2f}x faster, "
                  f"{b['peak_extra_mib'] / max(a['peak_extra_mib'], 1e-9):.2f}x less peak memory")


if __name__ == "__main__":
    main()
