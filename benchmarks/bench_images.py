"""The ImageNet input pipeline: decoded and augmented images per second on one core.

    python benchmarks/bench_images.py [--images 64] [--size 500 375] [--repeats 3]

Writes ``--images`` JPEG files of ImageNet's typical size (500 x 375, quality 90, smooth gradients with
noise, which compress and decode like photographs rather than like white noise) and times, in this
process with one torch thread (a DataLoader worker's share of a core):

* decode: ``snnctl.data.images.load_image`` (PIL, to RGB);
* train: decode + the ``imagenet`` dataset's training transform (RandomResizedCrop 224 + AutoAugment +
  ToTensor + Normalize, the paper's pipeline);
* train-flip: decode + RandomResizedCrop 224 + horizontal flip (``augment: flip``);
* eval: decode + Resize 256 + CenterCrop 224 + ToTensor + Normalize.

Where torchvision is installed at the version built for the installed torch, its ``transforms.v2``
pipelines of the same steps are timed beside them; otherwise that column says why not (PyPI's
torchvision for another torch fails to import). Images per second per core are what a training run
can draw per DataLoader worker.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def write_images(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        phase = rng.uniform(0, 6.28, 3)
        base = np.stack([127 + 100 * np.sin(xx / rng.uniform(20, 80) + yy / rng.uniform(20, 80) + p) for p in phase], -1)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"n{i:05d}.JPEG"
        Image.fromarray(img).save(path, quality=90)
        paths.append(path)
    return paths


def torchvision_pipelines():
    """transforms.v2 versions of the pipelines, or the reason there are none."""
    import torch

    try:
        import torchvision
        from torchvision.transforms import v2
    except Exception as exc:  # noqa: BLE001 - absent, or built for another torch
        return None, f"torchvision not usable here ({type(exc).__name__})"
    from snnctl.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return {
        "train": v2.Compose([v2.RandomResizedCrop(224, antialias=True), v2.AutoAugment(), *tail]),
        "train-flip": v2.Compose([v2.RandomResizedCrop(224, antialias=True), v2.RandomHorizontalFlip(), *tail]),
        "eval": v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224), *tail]),
    }, f"torchvision {torchvision.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, nargs=2, default=[500, 375], metavar=("W", "H"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import PIL
    import torch

    from snnctl.data.images import load_image
    from snnctl.data.transforms import (
        IMAGENET_MEAN, IMAGENET_STD, AutoAugment, CenterCrop, Compose, Normalize, RandomHorizontalFlip,
        RandomResizedCrop, Resize, ToTensor,
    )

    torch.set_num_threads(1)
    torch.manual_seed(0)
    tail = [ToTensor(), Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    ours = {
        "decode": None,
        "train": Compose([RandomResizedCrop(224), AutoAugment(), *tail]),
        "train-flip": Compose([RandomResizedCrop(224), RandomHorizontalFlip(), *tail]),
        "eval": Compose([Resize(256), CenterCrop(224), *tail]),
    }
    theirs, note = torchvision_pipelines()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), args.images, tuple(args.size))
        kib = statistics.mean(p.stat().st_size for p in paths) / 1024

        def rate(transform) -> tuple[float, float]:
            rates = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for p in paths:
                    img = load_image(p)
                    if transform is not None:
                        out = transform(img)
                        assert out.shape == (3, 224, 224)
                rates.append(len(paths) / (time.perf_counter() - t0))
            return statistics.median(rates), max(rates)

        print(f"{args.images} JPEGs {args.size[0]}x{args.size[1]} (mean {kib:.0f} KiB), Pillow {PIL.__version__}, "
              f"torch {torch.__version__}, 1 thread, median of {args.repeats} passes; {note}")
        print(f"{'pipeline':<11} {'snnctl img/s':>13} {'best':>7} {'torchvision v2 img/s':>21}")
        for name, transform in ours.items():
            med, best = rate(transform)
            tv = "-"
            if theirs is not None and name in theirs:
                tv = f"{rate(theirs[name])[0]:.1f}"
            print(f"{name:<11} {med:>13.1f} {best:>7.1f} {tv:>21}")


if __name__ == "__main__":
    main()
