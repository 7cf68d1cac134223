"""Inference time per sample of an exported model: ONNX Runtime (CPU) against PyTorch, side by side.

    python benchmarks/bench_export.py [RUN_DIR] [--batch 1 16] [--repeats 20] [--threads 2]

Without RUN_DIR the default job's model (``vgg5-sma``, T=8, 2x32x32) is trained for one epoch on a few
samples; timing does not depend on the weights. The model is exported once with ``snnctl export --format onnx`` (so the
file is verified before it is timed, on 16 synthetic-gestures samples), then each runtime runs in
its own child process on the same input ``[T, batch, 2, H, W]`` with ``--threads`` intra-op threads:
warm-up calls, then the timed ones. Printed: median and minimum milliseconds per sample, peak extra
memory, the ratio ONNX Runtime / PyTorch (below 1: ONNX Runtime is faster) and the largest logit
difference between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from _measure import measure, run_children

IMPLEMENTATIONS = ["pytorch", "onnxruntime"]


def _input(t: int, batch: int, c: int, h: int, w: int):
    import torch

    g = torch.Generator().manual_seed(0)
    return ((torch.rand(t, batch, c, h, w, generator=g) < 0.05).float() * torch.randint(1, 4, (t, batch, c, h, w), generator=g))


def child(impl: str, source: str, onnx_file: str, batch: int, repeats: int, threads: int) -> None:
    import numpy as np
    import torch

    import snnctl
    from snnctl.nn import reset_states

    torch.set_num_threads(threads)
    model = snnctl.load(source)
    x = _input(model.timesteps, batch, model.in_channels, *model.input_size)
    if impl == "pytorch":
        def step():
            with torch.no_grad():
                out = model(x)
            reset_states(model)
            return out
    else:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(onnx_file, opts, providers=["CPUExecutionProvider"])
        feed = {"events": x.numpy()}

        def step():
            return session.run(["logits"], feed)[0]

    out = step()
    result = measure(step, repeats)
    logits = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
    print(json.dumps({"impl": impl, "batch": batch, **result, "logits": logits.reshape(-1)[:4096].tolist()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", help="a run folder or bundle (default: an untrained vgg5-sma)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.onnx, args.batch[0], args.repeats, args.threads)
        return

    import numpy as np
    import torch

    import snnctl
    from snnctl.export import export

    with tempfile.TemporaryDirectory() as tmp:
        source = args.run
        if source is None:
            os.environ.setdefault("SNNCTL_CACHE", str(Path(tmp) / "cache"))
            source = _short_run(Path(tmp))
        onnx_file = str(Path(tmp) / "model.onnx")
        report = export(source, "onnx", Path(onnx_file), samples=16)
        model = snnctl.load(source)
        print(f"{report['source']['model']}: input [{model.timesteps}, batch, {model.in_channels}, "
              f"{model.input_size[0]}, {model.input_size[1]}], {report['bytes'] / 2**20:.1f} MiB ONNX file; torch "
              f"{torch.__version__}, onnxruntime {report['versions']['onnxruntime']}, {args.threads} threads")
        print(f"{'batch':>5} {'runtime':<12} {'median ms/sample':>17} {'min ms/sample':>14} {'peak extra MiB':>15} {'ratio':>6}")
        for batch in args.batch:
            rows = run_children(__file__, IMPLEMENTATIONS, ["--source", source, "--onnx", onnx_file, "--batch", str(batch),
                                                            "--repeats", str(args.repeats), "--threads", str(args.threads)])
            by = {r["impl"]: r for r in rows}
            base = by.get("pytorch")
            for r in rows:
                ratio = r["median_ms"] / base["median_ms"] if base else float("nan")
                print(f"{batch:>5} {r['impl']:<12} {r['median_ms'] / batch:>17.3f} {r['min_ms'] / batch:>14.3f} "
                      f"{r['peak_extra_mib']:>15.1f} {ratio:>6.2f}")
            if len(by) == 2:
                diff = np.abs(np.array(by["pytorch"]["logits"]) - np.array(by["onnxruntime"]["logits"])).max()
                print(f"{'':>5} largest logit difference between the two: {diff:.3g}")


def _short_run(folder: Path) -> str:
    """A one-epoch run of the default job's model on a few samples (its speed does not depend on its weights)."""
    import subprocess

    run = folder / "runs" / "untrained"
    cmd = [sys.executable, "-m", "snnctl", "train", "--name", "untrained", "--output-dir", str(folder / "runs"),
           "--epochs", "1", "--set", 'data.args={"train_per_class": 4, "test_per_class": 2}', "--quiet"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=folder)
    return str(run)


if __name__ == "__main__":
    main()
