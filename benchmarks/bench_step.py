"""One training step (forward, backward, optimizer) of an SMA network: snnctl against SpikingJelly 2.0.

    python benchmarks/bench_step.py                          # the default job's model, B=32, T=8, 32x32
    python benchmarks/bench_step.py --model vgg8-sma --batch 1 --timesteps 16 --size 128 --classes 11
    python benchmarks/bench_step.py --no-azo --repeats 10
    python benchmarks/bench_step.py --precision bf16         # both under CPU bf16 autocast

The same network is built twice with the same weights: snnctl's model (``vgg5-sma`` or ``vgg8-sma``, with
AZO attached as ``snnctl train`` does) and an assembly of SpikingJelly layers: ``SeqToANNContainer``
around every stateless layer, multi-step ``LIFNode`` (tau 2, hard reset to 0, detached reset, ATan) for
every spiking layer, SpikingJelly's multi-step ``Dropout``, and an SMA written straight from the spec
(tests/reference_sma.py: one module per scale, the stacked branch tensors, AZO as a clone and an indexed
copy) with ``LIFNode`` branches. Before timing, both compute the same logits in one training-mode forward
pass with dropout off (the 'max |diff|' line). Each implementation runs in its own process, with the same input, labels, loss
(cross-entropy of the time-mean logits) and optimizer (AdamW, lr 1e-3); see _measure.py for how time and
peak memory are measured.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from _measure import add_run_options, measure, run_children

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

IMPLEMENTATIONS = ["snnctl", "spikingjelly"]


def snnctl_model(args):
    import torch

    import snnctl

    torch.manual_seed(0)
    model = snnctl.create_model(args.model, in_channels=2, num_classes=args.classes,
                                input_size=(args.size, args.size), timesteps=args.timesteps)
    if not args.no_azo:
        snnctl.create("regularizer", "azo").attach(model)
    return model


def spikingjelly_model(ours):
    """The same architecture from SpikingJelly layers, with ``ours``'s weights."""
    from collections import OrderedDict

    from spikingjelly.activation_based import layer, neuron, surrogate
    from torch import nn

    from reference_sma import StraightSMA
    from snnctl.nn import SeqFold, StepDropout

    def lif():
        return neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True, decay_input=True,
                              surrogate_function=surrogate.ATan(alpha=2.0), step_mode="m")

    def convert(module: nn.Module) -> nn.Module:
        if isinstance(module, SeqFold):
            inner = module.layers
            return layer.SeqToANNContainer(*(list(inner) if isinstance(inner, nn.Sequential) else [inner]))
        if isinstance(module, StepDropout):
            return layer.Dropout(module.p, step_mode="m")
        if type(module).__name__ == "SMA":
            azo = (module.zoneouts[0].rtr, module.zoneouts[0].rcr) if len(module.zoneouts) else None
            sma = StraightSMA(module.channels, module.timesteps, kernels=[c.kernel_size[0] for c in module.convs],
                              azo=azo).load_from(module)
            sma.acts = nn.ModuleList(lif() for _ in sma.acts)
            return sma
        if isinstance(module, nn.Sequential):  # keeps the names, so the weights keep theirs
            return nn.Sequential(OrderedDict((name, convert(m)) for name, m in module.named_children()))
        if hasattr(module, "v_threshold") and hasattr(module, "surrogate"):
            return lif()
        raise TypeError(f"no SpikingJelly counterpart for {type(module).__name__}")

    class Assembly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = convert(ours.features)
            self.head = convert(ours.head)

        def forward(self, x):
            return self.head(self.features(x))

    sj = Assembly()
    # SeqFold keeps its layers under `layers` (one layer, or a Sequential); SeqToANNContainer is a Sequential
    # of them. SMA's weights came with load_from.
    state = {re.sub(r"\.layers\.(\d+)\.", r".\1.", k).replace(".layers.", ".0."): v
             for k, v in ours.state_dict().items() if ".attention." not in k}
    missing, unexpected = sj.load_state_dict(state, strict=False)
    assert not unexpected and all(".attention." in k for k in missing), (missing, unexpected)
    return sj


def child(impl: str, args) -> None:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ours = snnctl_model(args)
    net = (ours if impl == "snnctl" else spikingjelly_model(ours)).to(device)
    if impl == "spikingjelly":
        del ours
        from spikingjelly.activation_based import functional

        reset = functional.reset_net
    else:
        from snnctl.nn import reset_states as reset
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(args.timesteps, args.batch, 2, args.size, args.size, generator=g) < 0.2).float() * 2
    y = torch.randint(0, args.classes, (args.batch,), generator=g)
    x, y = x.to(device), y.to(device)
    # the check: one training-mode forward pass (batch statistics, AZO acting) with dropout off, since the
    # two libraries draw dropout masks differently; then each times its own steps, dropout on
    drops = [m for m in net.modules() if type(m).__name__ in ("StepDropout", "Dropout")]
    kept = [m.p for m in drops]
    for m in drops:
        m.p = 0.0
    net.train()
    feats = net.features(x)
    logits = net.head(feats)
    F.cross_entropy(logits.mean(0), y).backward()
    first = next(net.features[0].conv.parameters())  # the first convolution's weight
    check = {"spikes": float(feats.sum()), "features": feats.flatten()[:4096].tolist(),
             "logits": logits.flatten()[:4096].tolist(), "grad": first.grad.flatten().tolist()}
    net.zero_grad(set_to_none=True)
    reset(net)
    for m, p in zip(drops, kept):
        m.p = p
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def step() -> None:
        with autocast:  # bf16: convolutions, linear layers and BatchNorm's inputs in bfloat16, as `--precision bf16`
            out = net(x)
            loss = F.cross_entropy(out.float().mean(0), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        reset(net)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":  # the device's peak, not the process's resident memory
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = measure(step, args.repeats, warmup=2)
        result["peak_extra_mib"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        result = measure(step, args.repeats, warmup=2)
    print(json.dumps({"impl": impl, **result, **check}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vgg5-sma", choices=["vgg5-sma", "vgg8-sma", "vgg5", "vgg8"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--timesteps", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--no-azo", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N (gpu_check.py)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="timed steps under CPU bf16 autocast (both implementations; the check stays in fp32)")
    add_run_options(ap)
    ap.add_argument("--child", default=None)
    args, _ = ap.parse_known_args()
    if args.child:
        child(args.child, args)
        return
    forwarded = [a for a in sys.argv[1:]]
    results = run_children(__file__, IMPLEMENTATIONS, forwarded, malloc=args.malloc, rounds=args.rounds)
    if len(results) < 2:
        raise SystemExit("an implementation failed (see above)")
    ours, sj = results
    def gap(key: str) -> float:
        return max(abs(a - b) for a, b in zip(ours[key], sj[key]))

    azo = "without AZO" if args.no_azo or args.model in ("vgg5", "vgg8") else "with AZO"
    print(f"{args.model} {azo}, input [{args.timesteps}, {args.batch}, 2, {args.size}, {args.size}], "
          f"{args.classes} classes, {args.device}, {args.threads} threads, {args.precision}, {args.malloc} glibc malloc, {args.repeats} timed steps after 2 warm-up")
    grad_scale = max(abs(v) for v in ours["grad"]) or 1.0
    print(f"the same network (one training-mode pass, dropout off): spikes out of the conv blocks "
          f"{ours['spikes']:.0f} vs {sj['spikes']:.0f}, max |diff| of those spikes {gap('features'):.1e}, "
          f"of the logits {gap('logits'):.1e}, of the first conv's gradient {gap('grad'):.1e} "
          f"(largest {grad_scale:.1e})")
    print(f"{'implementation':14s} {'median ms':>10s} {'min ms':>8s} {'peak MiB':>9s}")
    for r in results:
        print(f"{r['impl']:14s} {r['median_ms']:10.1f} {r['min_ms']:8.1f} {r['peak_extra_mib']:9.0f}")
    print(f"snnctl is {sj['median_ms'] / ours['median_ms']:.2f}x faster at "
          f"{ours['peak_extra_mib'] / max(sj['peak_extra_mib'], 1e-9):.2f}x the memory")
    if ours["spikes"] == 0 or gap("features") > 0 or gap("logits") > 1e-4 or gap("grad") > 1e-3 * grad_scale:
        raise SystemExit("the two networks do not compute the same function: the timings are not comparable")


if __name__ == "__main__":
    main()
