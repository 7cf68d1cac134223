"""Image transforms for static-image datasets, written with PIL, numpy and torch (no torchvision).

They follow torchvision's definitions (``RandomResizedCrop``, ``RandomHorizontalFlip``, ``AutoAugment``
with the ImageNet policy, ``Resize``, ``CenterCrop``, ``ToTensor``, ``Normalize``) on PIL images, so an
ImageNet pipeline built from them matches the usual torchvision one draw for draw.

Every transform is a small picklable callable: DataLoader workers receive them. Random draws come
from the ``torch.Generator`` given at construction, else from torch's global RNG, never from Python's
``random``: seeding torch makes a run reproducible, and DataLoader workers each get their own seeded
stream. Give a generator only where the transform is used in one process (a worker holding a copy
of the same generator would repeat its siblings' draws).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "IMAGENET_POLICY", "AUTOAUGMENT_OPS",
    "Compose", "RandomResizedCrop", "RandomHorizontalFlip", "AutoAugment", "Resize", "CenterCrop",
    "ToTensor", "Normalize", "augmentation_space", "apply_op", "to_tensor",
]

#: per-channel mean and standard deviation of ImageNet's training images (RGB, on [0, 1])
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

Size = Union[int, Sequence[int]]


def _hw(size: Size, what: str) -> tuple[int, int]:
    """``size`` as (height, width); an int is a square."""
    if isinstance(size, int):
        h = w = size
    else:
        if len(size) != 2:
            raise ValueError(f"{what} must be an int or (height, width), got {size!r}")
        h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return h, w


def _uniform(low: float, high: float, generator: Optional[torch.Generator]) -> float:
    return torch.empty(1).uniform_(low, high, generator=generator).item()


def _randint(high: int, generator: Optional[torch.Generator]) -> int:
    """An integer in ``[0, high)``."""
    return int(torch.randint(0, high, (1,), generator=generator).item())


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Iterable[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return " -> ".join(repr(t) for t in self.transforms)


# -- geometry -----------------------------------------------------------------------------------------
class RandomResizedCrop:
    """Crop a random area and aspect ratio, resized to ``size`` (bilinear): Inception-style cropping.

    Up to 10 draws of an area fraction in ``scale`` and a log-uniform aspect ratio in ``ratio``; the
    first that fits the image is cropped at a uniform position. If none fits, the largest central crop
    whose ratio is clamped to ``ratio`` is used (torchvision's algorithm).
    """

    def __init__(self, size: Size, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), generator: Optional[torch.Generator] = None) -> None:
        self.size = _hw(size, "RandomResizedCrop size")
        if not (0 < scale[0] <= scale[1]):
            raise ValueError(f"RandomResizedCrop scale must satisfy 0 < low <= high, got {scale!r}")
        if not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop ratio must satisfy 0 < low <= high, got {ratio!r}")
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.generator = generator

    def get_params(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The crop ``(top, left, height, width)`` for an image of ``width`` x ``height``."""
        area = height * width
        log_ratio = torch.log(torch.tensor(self.ratio))
        for _ in range(10):
            target_area = area * _uniform(self.scale[0], self.scale[1], self.generator)
            # exp in float32, like torchvision, so that the same draws give the same crop
            aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0].item(), log_ratio[1].item(),
                                                       generator=self.generator)).item()
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = _randint(height - h + 1, self.generator)
                left = _randint(width - w + 1, self.generator)
                return top, left, h, w
        # fallback: a central crop with the aspect ratio clamped to the allowed range
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img: Image.Image) -> Image.Image:
        top, left, h, w = self.get_params(*img.size)
        crop = img.crop((left, top, left + w, top + h))
        return crop.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)

    def __repr__(self) -> str:
        return (f"RandomResizedCrop({self.size[0]}x{self.size[1]}, scale={self.scale}, "
                f"ratio=({self.ratio[0]:.4g}, {self.ratio[1]:.4g}))")


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: Optional[torch.Generator] = None) -> None:
        self.p = p
        self.generator = generator

    def __call__(self, img: Image.Image) -> Image.Image:
        if torch.rand(1, generator=self.generator).item() < self.p:
            return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Resize (bilinear, antialiased): an int sets the shorter side and keeps the aspect ratio (the
    longer side is ``int(size * long / short)``); ``(height, width)`` sets both."""

    def __init__(self, size: Size) -> None:
        self.size = size if isinstance(size, int) else _hw(size, "Resize size")
        if isinstance(size, int) and size < 1:
            raise ValueError(f"Resize size must be positive, got {size}")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) an image of ``width`` x ``height`` is resized to."""
        if not isinstance(self.size, int):
            return self.size[1], self.size[0]
        if width <= height:
            return self.size, int(self.size * height / width)
        return int(self.size * width / height), self.size

    def __call__(self, img: Image.Image) -> Image.Image:
        size = self.output_size(*img.size)
        if size == img.size:
            return img
        return img.resize(size, Image.Resampling.BILINEAR)

    def __repr__(self) -> str:
        if isinstance(self.size, int):
            return f"Resize(shorter side {self.size})"
        return f"Resize({self.size[0]}x{self.size[1]})"


class CenterCrop:
    """The central ``size`` region (top-left at ``round((H - h) / 2), round((W - w) / 2)``); an image
    smaller than ``size`` is first padded with black, as torchvision does."""

    def __init__(self, size: Size) -> None:
        self.size = _hw(size, "CenterCrop size")

    def __call__(self, img: Image.Image) -> Image.Image:
        h, w = self.size
        width, height = img.size
        if w > width or h > height:
            padded = Image.new(img.mode, (max(w, width), max(h, height)))
            padded.paste(img, ((w - width) // 2 if w > width else 0, (h - height) // 2 if h > height else 0))
            img = padded
            width, height = img.size
            if (width, height) == (w, h):
                return img
        top = int(round((height - h) / 2.0))
        left = int(round((width - w) / 2.0))
        return img.crop((left, top, left + w, top + h))

    def __repr__(self) -> str:
        return f"CenterCrop({self.size[0]}x{self.size[1]})"


# -- tensors --------------------------------------------------------------------------------------------
# Per-image tensor work is done in numpy: torch would wake its intra-op thread pool for every image of
# a data-loading process (ten times slower on a small machine); the results are bit-identical.
def to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL image as float32 ``[C, H, W]`` on [0, 1] (8-bit modes only: L, RGB, RGBA, ...)."""
    if img.mode == "P":
        img = img.convert("RGB")
    if img.mode not in ("L", "RGB", "RGBA", "CMYK", "LA"):
        raise ValueError(f"to_tensor takes 8-bit images, got mode {img.mode}")
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    out = np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)
    out /= np.float32(255.0)
    return torch.from_numpy(out)


class ToTensor:
    """PIL image -> float32 ``[C, H, W]`` on [0, 1]."""

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return to_tensor(img)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean) / std`` per channel of a CPU ``[C, H, W]`` tensor (a new tensor)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"Normalize needs one positive std per mean, got mean={mean!r} std={std!r}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3 or x.shape[-3] != len(self.mean):
            raise ValueError(f"Normalize has {len(self.mean)} channels, got a tensor of shape {tuple(x.shape)}")
        a = x.detach().cpu().numpy()
        mean = np.array(self.mean, dtype=a.dtype).reshape(-1, 1, 1)
        std = np.array(self.std, dtype=a.dtype).reshape(-1, 1, 1)
        return torch.from_numpy((a - mean) / std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


# -- AutoAugment ----------------------------------------------------------------------------------------
#: The ImageNet policy of Cubuk et al., "AutoAugment: Learning Augmentation Strategies from Data"
#: (CVPR 2019), as torchvision lists it: 25 sub-policies of two (operation, probability, magnitude bin).
IMAGENET_POLICY: tuple[tuple[tuple[str, float, Optional[int]], tuple[str, float, Optional[int]]], ...] = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
    (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
    (("Color", 0.4, 0), ("Equalize", 0.6, None)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
)

#: every operation of the AutoAugment search space
AUTOAUGMENT_OPS: tuple[str, ...] = (
    "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
    "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert",
)


@functools.lru_cache(maxsize=64)
def augmentation_space(num_bins: int, width: int, height: int) -> dict[str, tuple[list[float], bool]]:
    """Per operation: the magnitude of each bin and whether its sign is drawn at random.

    The standard bins: shear 0..0.3, translation 0..150/331 of the image side, rotation 0..30 degrees,
    enhancement factors 1 +- 0..0.9, posterize 8..4 bits, solarize threshold 255..0; computed in
    float32 like torchvision so that the magnitudes are identical. Cached per size: do not modify
    the result.
    """
    posterize = (8 - (torch.arange(num_bins) / ((num_bins - 1) / 4)).round().int()).tolist()
    return {
        "ShearX": (torch.linspace(0.0, 0.3, num_bins).tolist(), True),
        "ShearY": (torch.linspace(0.0, 0.3, num_bins).tolist(), True),
        "TranslateX": (torch.linspace(0.0, 150.0 / 331.0 * width, num_bins).tolist(), True),
        "TranslateY": (torch.linspace(0.0, 150.0 / 331.0 * height, num_bins).tolist(), True),
        "Rotate": (torch.linspace(0.0, 30.0, num_bins).tolist(), True),
        "Brightness": (torch.linspace(0.0, 0.9, num_bins).tolist(), True),
        "Color": (torch.linspace(0.0, 0.9, num_bins).tolist(), True),
        "Contrast": (torch.linspace(0.0, 0.9, num_bins).tolist(), True),
        "Sharpness": (torch.linspace(0.0, 0.9, num_bins).tolist(), True),
        "Posterize": ([float(b) for b in posterize], False),
        "Solarize": (torch.linspace(255.0, 0.0, num_bins).tolist(), False),
        "AutoContrast": ([0.0], False),
        "Equalize": ([0.0], False),
        "Invert": ([0.0], False),
    }


def _fill(img: Image.Image, fill: int):
    return tuple([fill] * len(img.getbands())) if len(img.getbands()) > 1 else fill


def apply_op(img: Image.Image, op: str, magnitude: float, fill: int = 0,
             interpolation: Image.Resampling = Image.Resampling.NEAREST) -> Image.Image:
    """Apply one AutoAugment operation with a signed ``magnitude`` (torchvision's ``_apply_op``).

    Geometric operations keep the image size and fill uncovered pixels with ``fill``. Shears are
    about the top-left corner (output (x, y) reads input (x + m*y, y) for ShearX); translations move
    the content by ``int(magnitude)`` pixels (right / down for positive values); rotation is
    counter-clockwise in degrees about the centre. Enhancements use the factor ``1 + magnitude``.
    """
    if op == "ShearX":
        return img.transform(img.size, Image.Transform.AFFINE, (1, magnitude, 0, 0, 1, 0), interpolation,
                             fillcolor=_fill(img, fill))
    if op == "ShearY":
        return img.transform(img.size, Image.Transform.AFFINE, (1, 0, 0, magnitude, 1, 0), interpolation,
                             fillcolor=_fill(img, fill))
    if op == "TranslateX":
        return img.transform(img.size, Image.Transform.AFFINE, (1, 0, -int(magnitude), 0, 1, 0), interpolation,
                             fillcolor=_fill(img, fill))
    if op == "TranslateY":
        return img.transform(img.size, Image.Transform.AFFINE, (1, 0, 0, 0, 1, -int(magnitude)), interpolation,
                             fillcolor=_fill(img, fill))
    if op == "Rotate":
        return img.rotate(magnitude, interpolation, expand=False, fillcolor=_fill(img, fill))
    if op == "Brightness":
        return ImageEnhance.Brightness(img).enhance(1.0 + magnitude)
    if op == "Color":
        return ImageEnhance.Color(img).enhance(1.0 + magnitude)
    if op == "Contrast":
        return ImageEnhance.Contrast(img).enhance(1.0 + magnitude)
    if op == "Sharpness":
        return ImageEnhance.Sharpness(img).enhance(1.0 + magnitude)
    if op == "Posterize":
        return ImageOps.posterize(img, int(magnitude))
    if op == "Solarize":
        return ImageOps.solarize(img, magnitude)
    if op == "AutoContrast":
        return ImageOps.autocontrast(img)
    if op == "Equalize":
        return ImageOps.equalize(img)
    if op == "Invert":
        return ImageOps.invert(img)
    raise ValueError(f"unknown AutoAugment operation {op!r}; known: {', '.join(AUTOAUGMENT_OPS)}")


class AutoAugment:
    """AutoAugment: one of the policy's sub-policies drawn uniformly, each of its two operations
    applied with its probability, signed magnitudes getting a random sign (torchvision's draws:
    the sub-policy index, then two probabilities, then two signs)."""

    def __init__(self, policy=IMAGENET_POLICY, fill: int = 0, generator: Optional[torch.Generator] = None) -> None:
        for sub in policy:
            for op, p, _ in sub:
                if op not in AUTOAUGMENT_OPS:
                    raise ValueError(f"unknown AutoAugment operation {op!r} in the policy")
        self.policy = tuple(policy)
        self.fill = fill
        self.generator = generator

    def get_params(self) -> tuple[int, list[float], list[int]]:
        """The sub-policy index, the two probabilities and the two signs (0 = negative) drawn."""
        index = int(torch.randint(len(self.policy), (1,), generator=self.generator).item())
        probs = torch.rand((2,), generator=self.generator).tolist()
        signs = torch.randint(2, (2,), generator=self.generator).tolist()
        return index, probs, signs

    def __call__(self, img: Image.Image) -> Image.Image:
        index, probs, signs = self.get_params()
        for i, (op, p, bin_) in enumerate(self.policy[index]):
            if probs[i] <= p:
                magnitudes, signed = augmentation_space(10, *img.size)[op]
                magnitude = magnitudes[bin_] if bin_ is not None else 0.0
                if signed and signs[i] == 0:
                    magnitude = -magnitude
                img = apply_op(img, op, magnitude, fill=self.fill)
        return img

    def __repr__(self) -> str:
        name = "ImageNet policy" if self.policy == IMAGENET_POLICY else f"{len(self.policy)} sub-policies"
        return f"AutoAugment({name})"
