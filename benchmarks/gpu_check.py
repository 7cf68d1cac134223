"""What snnctl does on a GPU, checked in one run and printed as one table (never part of CI).

    python benchmarks/gpu_check.py                 # on a CUDA machine (benchmarks/gpu_check.sh runs this too)
    python benchmarks/gpu_check.py --device cpu --models 'vgg5*'   # on the CPU: does the script itself work?

Rows:

* every registered neuron: forward and backward on the device against the CPU (same input, spikes and
  input gradients compared);
* SMA with AZO: forward and backward on the device against the CPU from the same weights;
* one training step (forward, backward, optimizer) of every built-in model in fp32, bf16 and fp16 (fp16 with
  a GradScaler; CUDA only), at a small input fitted to the model: finite loss, seconds, peak memory;
* the training-step benchmark (vgg5-sma + AZO against the SpikingJelly assembly) on the device.

A 1-process NCCL DDP run is a separate command (torchrun), in gpu_check.sh.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROWS: list[tuple[str, str, str]] = []


def row(what: str, status: str, detail: str = "") -> None:
    ROWS.append((what, status, detail))
    print(f"{status:5s} {what}: {detail}", flush=True)


def guarded(what: str):
    def wrap(fn):
        def run(*args, **kwargs):
            try:
                fn(*args, **kwargs)
            except Exception as exc:  # a failing row is reported and the others still run
                row(what, "FAIL", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                traceback.print_exc()
        return run
    return wrap


def check_neurons(device) -> None:
    import torch

    import snnctl

    for name in snnctl.list_components("neuron"):
        @guarded(f"neuron {name}")
        def one(name=name):
            torch.manual_seed(0)
            x = torch.randn(8, 4, 16, 8, 8) * 2
            outs = []
            for dev in ("cpu", device):
                n = snnctl.create("neuron", name).to(dev)
                xi = x.to(dev).requires_grad_()
                s = n(xi)
                (s * torch.linspace(-1, 1, s.numel(), device=dev).view_as(s)).sum().backward()
                outs.append((s.detach().cpu(), xi.grad.cpu()))
            (s0, g0), (s1, g1) = outs
            differ = int((s0 != s1).sum())
            gap = float((g0 - g1).abs().max())
            ok = differ == 0 and gap <= 1e-4 * max(1.0, float(g0.abs().max()))
            row(f"neuron {name}", "ok" if ok else "FAIL", f"spikes differing {differ}, max |grad diff| {gap:.1e}")
        one()


@guarded("sma + azo")
def check_sma(device) -> None:
    import copy

    import torch

    import snnctl

    torch.manual_seed(0)
    sma = snnctl.create("attention", "sma", channels=16, timesteps=8)
    snnctl.create("regularizer", "azo").attach(torch.nn.Sequential(sma))
    x = torch.randn(8, 2, 16, 12, 12)
    outs = []
    for dev in ("cpu", device):
        m = copy.deepcopy(sma).to(dev).train()
        xi = x.to(dev).requires_grad_()
        y = m(xi)
        y.square().mean().backward()
        outs.append((y.detach().cpu(), xi.grad.cpu()))
    (y0, g0), (y1, g1) = outs
    gap_y, gap_g = float((y0 - y1).abs().max()), float((g0 - g1).abs().max())
    ok = gap_y <= 1e-4 * max(1.0, float(y0.abs().max())) and gap_g <= 1e-3 * max(1e-12, float(g0.abs().max()))
    row("sma + azo", "ok" if ok else "FAIL", f"max |out diff| {gap_y:.1e}, max |grad diff| {gap_g:.1e}")


def check_models(device, precisions, pattern: str = "*") -> None:
    import torch
    import torch.nn.functional as F

    import snnctl
    from snnctl.nn import reset_states

    shapes = {"resnet": dict(in_channels=3, num_classes=10, input_size=(64, 64), timesteps=4),
              "vgg": dict(in_channels=2, num_classes=10, input_size=(64, 64), timesteps=4)}
    for name in snnctl.list_components("model", pattern):
        if name.startswith("test-"):
            continue
        for precision in precisions:
            @guarded(f"step {name} {precision}")
            def one(name=name, precision=precision):
                torch.manual_seed(0)
                kw = shapes["resnet" if name.startswith("resnet") else "vgg"]
                model = snnctl.create_model(name, **kw).to(device).train()
                opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
                scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
                x = model.example_input(2, device=device)
                y = torch.randint(0, kw["num_classes"], (2,), device=device)
                dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                    torch.cuda.synchronize(device)
                t0 = time.perf_counter()
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss = F.cross_entropy(model(x).float().mean(0), y)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                reset_states(model)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds = time.perf_counter() - t0
                peak = f", peak {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB" if device.type == "cuda" else ""
                ok = bool(torch.isfinite(loss))
                row(f"step {name} {precision}", "ok" if ok else "FAIL", f"loss {float(loss):.4f}, {seconds:.2f} s{peak}")
            one()


@guarded("step benchmark")
def step_benchmark(device) -> None:
    import subprocess

    script = Path(__file__).resolve().parent / "bench_step.py"
    r = subprocess.run([sys.executable, str(script), "--device", str(device), "--repeats", "5"],
                       capture_output=True, text=True, timeout=900)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    print("\n".join(lines[-6:]))
    row("step benchmark vgg5-sma + AZO vs SpikingJelly", "ok" if r.returncode == 0 else "FAIL",
        lines[-1] if lines else r.stderr.strip().splitlines()[-1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--skip-benchmark", action="store_true")
    ap.add_argument("--models", default="*", help="which built-in models take a training step (wildcard)")
    args = ap.parse_args()

    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu to check the script itself")
    about = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {about}")
    precisions = ["fp32", "bf16", "fp16"] if device.type == "cuda" else ["fp32", "bf16"]
    check_neurons(device)
    check_sma(device)
    check_models(device, precisions, args.models)
    if not args.skip_benchmark:
        step_benchmark(device)
    print(f"\n{'check':55s} {'status':6s} detail")
    for what, status, detail in ROWS:
        print(f"{what:55s} {status:6s} {detail}")
    failed = sum(status != "ok" for _, status, _ in ROWS)
    print(f"{len(ROWS) - failed} ok, {failed} failed")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
