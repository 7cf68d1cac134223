"""Multi-step neuron forward+backward: snnctl's neurons against SpikingJelly's and snnTorch's, side by side.

    python benchmarks/bench_lif.py [--neuron lif] [--shape 16 16 64 32 32] [--repeats 10] [--threads 2]
    python benchmarks/bench_lif.py --neuron if                   # IFNode; snnTorch Leaky with beta 1
    python benchmarks/bench_lif.py --neuron lif-no-decay-input   # H = V/2 + X: snnTorch Leaky with beta 0.5
    python benchmarks/bench_lif.py --neuron plif                 # ParametricLIFNode

Which peers run depends on the neuron (each must compute the same function): ``lif`` (decay_input, the
default) against SpikingJelly's ``LIFNode`` and a plain per-step loop; ``lif-no-decay-input`` and ``if``
also against snnTorch's ``Leaky`` (zero reset, no reset delay, ATan), stepped in a Python loop as snnTorch
is used; ``plif`` against ``ParametricLIFNode``.

Each implementation runs in a fresh child process (so peak memory is its own): the child builds the
input, records its resident memory and resets the peak counter, then runs two warm-up calls and the
timed forward + backward calls. Peak extra memory is the growth of the peak resident set over that
baseline, so buffers an implementation leaves cached in the heap count too. All use tau 2, v_th 1, hard
reset to 0, detach_reset and the ATan surrogate; the spike counts printed beside the timings (and
the 'same spikes' note) show that they compute the same thing.
"""

from __future__ import annotations

import argparse
import json

from _measure import add_run_options, measure, run_children

IMPLEMENTATIONS = ["snnctl", "snnctl-torch", "spikingjelly", "snntorch", "eager-loop"]
#: the peers that compute the same function as snnctl's neuron (snnctl-torch: snnctl with SNNCTL_NATIVE=0,
#: its PyTorch path instead of the C kernel; plif has no kernel)
PEERS = {"lif": ["snnctl", "snnctl-torch", "spikingjelly", "eager-loop"],
         "lif-no-decay-input": ["snnctl", "snnctl-torch", "spikingjelly", "snntorch"],
         "if": ["snnctl", "snnctl-torch", "spikingjelly", "snntorch"], "plif": ["snnctl", "spikingjelly"]}


def build(impl: str, kind: str = "lif"):
    import math

    import torch

    common = dict(v_threshold=1.0, v_reset=0.0, detach_reset=True)
    if impl in ("snnctl", "snnctl-torch"):
        import os

        import snnctl

        os.environ["SNNCTL_NATIVE"] = "0" if impl == "snnctl-torch" else "1"

        if kind == "if":
            return snnctl.create("neuron", "if", **common)
        if kind == "plif":
            return snnctl.create("neuron", "plif", init_tau=2.0, **common)
        return snnctl.create("neuron", "lif", tau=2.0, decay_input=kind == "lif", **common)
    if impl == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate

        sj = dict(surrogate_function=surrogate.ATan(), step_mode="m", **common)
        if kind == "if":
            return neuron.IFNode(**sj)
        if kind == "plif":
            return neuron.ParametricLIFNode(init_tau=2.0, **sj)
        return neuron.LIFNode(tau=2.0, decay_input=kind == "lif", **sj)
    if impl == "snntorch":
        from snntorch import Leaky, surrogate

        cell = Leaky(beta=1.0 if kind == "if" else 0.5, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0),
                     reset_mechanism="zero", reset_delay=False)

        class Stepped(torch.nn.Module):  # snnTorch neurons are single-step: the loop is the user's
            def __init__(self) -> None:
                super().__init__()
                self.cell = cell

            def forward(self, x):
                mem = self.cell.init_leaky()
                out = []
                for xt in x.unbind(0):
                    spk, mem = self.cell(xt, mem)
                    out.append(spk)
                return torch.stack(out)

            def reset(self):
                pass

        return Stepped()
    if impl == "eager-loop":
        # The textbook implementation: a Python loop over unbind() with a surrogate autograd Function.
        class Spike(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return (x >= 0).to(x.dtype)

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g / (1 + (math.pi * x) ** 2)

        class Loop(torch.nn.Module):
            def forward(self, x):
                v = torch.zeros_like(x[0])
                out = []
                for xt in x.unbind(0):
                    h = v + (xt - v) / 2.0
                    s = Spike.apply(h - 1.0)
                    v = h * (1 - s.detach())
                    out.append(s)
                return torch.stack(out)

            def reset(self):
                pass

        return Loop()
    raise SystemExit(f"unknown implementation {impl}")


def child(impl: str, shape: list[int], repeats: int, threads: int, kind: str = "lif") -> dict:
    import torch

    torch.set_num_threads(threads)
    try:
        neuron = build(impl, kind)
    except ImportError as exc:
        return {"impl": impl, "skipped": f"{type(exc).__name__}: {exc}"}
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=gen) * 1.5 + 0.5).requires_grad_()
    up = torch.randn(shape, generator=gen)

    def step() -> None:
        neuron(x).backward(up)
        x.grad = None
        neuron.reset()

    result = measure(step, repeats)
    spikes = neuron(x.detach()).sum().item()
    return {"impl": impl, **result, "spike_count": spikes}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=int, nargs="+", default=[16, 16, 64, 32, 32])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--neuron", choices=list(PEERS), default="lif")
    p.add_argument("--impl", choices=IMPLEMENTATIONS, nargs="+", default=None,
                   help="which implementations (default: those that compute the same function as the neuron)")
    add_run_options(p)
    p.add_argument("--child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.shape, args.repeats, args.threads, args.neuron)))
        return

    import torch

    impls = args.impl or PEERS[args.neuron]
    results = run_children(__file__, impls, ["--shape", *map(str, args.shape), "--repeats", str(args.repeats),
                                             "--threads", str(args.threads), "--neuron", args.neuron], malloc=args.malloc, rounds=args.rounds)

    size_mib = torch.Size(args.shape).numel() * 4 / 2**20
    print(f"{args.neuron} forward+backward, input {args.shape} float32 ({size_mib:.0f} MiB), "
          f"torch {torch.__version__}, {args.threads} threads, {args.malloc} glibc malloc, median of {args.repeats} calls"
          f"{f', median over {args.rounds} interleaved rounds' if args.rounds > 1 else ''}")
    print(f"{'implementation':<14} {'median ms':>10} {'min ms':>8} {'peak extra MiB':>15} {'spikes':>10}")
    ran = [r for r in results if "skipped" not in r]
    for r in results:
        if "skipped" in r:
            print(f"{r['impl']:<14} skipped ({r['skipped']})")
        else:
            print(f"{r['impl']:<14} {r['median_ms']:>10.1f} {r['min_ms']:>8.1f} {r['peak_extra_mib']:>15.0f} "
                  f"{r['spike_count']:>10.0f}")
    ours = next((r for r in ran if r["impl"] == "snnctl"), None)
    if ours:
        for r in ran:
            if r is not ours:
                gap = abs(r["spike_count"] - ours["spike_count"])
                same = "same spikes" if gap == 0 else f"spike counts differ by {gap:.0f} of {ours['spike_count']:.0f}"
                print(f"snnctl vs {r['impl']}: {r['median_ms'] / ours['median_ms']:.2f}x faster, "
                      f"{r['peak_extra_mib'] / max(ours['peak_extra_mib'], 1e-9):.2f}x less peak memory ({same})")


if __name__ == "__main__":
    main()
