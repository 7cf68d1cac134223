"""The contract of static-image datasets (ImageNet and the like), parallel to :class:`EventDataset`.

Static images need no preprocessing: training reads the image files directly, decoding each one when
it is drawn. A plugin subclasses :class:`ImageDataset`, sets its ``name``, ``classes``,
``default_frames`` and normalisation, and implements :meth:`ImageDataset.locate` (find and validate
the files) and :meth:`ImageDataset.samples` (the ``(path, label)`` pairs of a split); the base class
builds the transforms (:mod:`snnctl.data.transforms`) and the torch dataset (:class:`ImageFiles`).

Images reach a model by direct encoding: the normalised ``[C, H, W]`` image is repeated over the T
steps by the training engine (``default_frames`` is T when the user gives none).

Objects of these classes travel to DataLoader worker processes by pickling: keep their state to
settings, paths and arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from snnctl.data.transforms import (
    IMAGENET_MEAN, IMAGENET_STD, AutoAugment, CenterCrop, Compose, Normalize, RandomHorizontalFlip,
    RandomResizedCrop, Resize, ToTensor,
)
from snnctl.errors import SnnctlError

__all__ = ["ImageDataset", "ImageFiles", "load_image", "is_image_file", "IMAGE_EXTENSIONS", "SPLITS", "AUGMENTATIONS"]

#: file name endings read as images (compared in lower case)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png")
#: the splits :meth:`ImageDataset.dataset` serves
SPLITS: tuple[str, ...] = ("train", "test")
#: training augmentations: the paper's RandomResizedCrop + AutoAugment, RandomResizedCrop + flip, or none
AUGMENTATIONS: tuple[str, ...] = ("autoaugment", "flip", "none")


def is_image_file(name: str) -> bool:
    """Whether a file name has an image extension (.JPEG, .jpg, .jpeg, .png in any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def load_image(path: str | os.PathLike) -> Any:
    """Decode an image file as an RGB PIL image; an unreadable file raises :class:`SnnctlError` naming it."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise SnnctlError(f"image file {path} has disappeared",
                          "The dataset folder changed after it was listed: restore the file and run again.") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # PIL's UnidentifiedImageError and "image file is truncated" are OSErrors
        raise SnnctlError(f"cannot read image {path}: {exc}",
                          "The file is corrupt or truncated (an interrupted download or extraction?): "
                          "replace it with a good copy or delete it, then run again.") from None


class ImageFiles(Dataset):
    """Labelled image files decoded lazily: item i is ``(transform(image), label)``.

    Paths are held as one byte-string array (not a list of Python strings) so that forked workers
    do not copy them page by page as reference counts change, and so that pickling for spawned
    workers stays small even for ImageNet's 1.28 million files.
    """

    def __init__(self, samples: Sequence[tuple[str, int]], transform: Callable[[Any], torch.Tensor],
                 classes: Sequence[str] = ()) -> None:
        paths = [os.fsencode(p) for p, _ in samples]
        self.prefix = os.path.commonprefix(paths) if paths else b""
        self._suffixes = np.array([p[len(self.prefix):] for p in paths] or [b""], dtype=np.bytes_)[:len(paths)]
        self.labels = np.array([label for _, label in samples], dtype=np.int64)
        self.transform = transform
        self.classes = tuple(classes)

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, index: int) -> str:
        """The file of item ``index``."""
        return os.fsdecode(self.prefix + bytes(self._suffixes[index]))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        return self.transform(load_image(self.path(index))), int(self.labels[index])

    def __repr__(self) -> str:
        classes = len(set(self.labels.tolist()))
        return f"ImageFiles({len(self)} images, {classes} classes, transform: {self.transform!r})"


class ImageDataset:
    """Base class of static-image dataset plugins (see the module docstring)."""

    #: registry name, set by the plugin
    name: str = ""
    #: class names; the label is the index
    classes: tuple[str, ...] = ()
    #: channels of the tensors served
    channels: int = 3
    #: (height, width) of the tensors served
    image_size: tuple[int, int] = (224, 224)
    #: shorter side the evaluation transform resizes to before its center crop
    resize: int = 256
    #: T of direct encoding when the user gives none
    default_frames: int = 1
    #: per-channel normalisation of the [0, 1] pixels
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    #: training augmentation, one of :data:`AUGMENTATIONS`
    augment: str = "autoaugment"
    #: how the train and test splits are defined (for ``describe``)
    split_policy: str = "official"

    def locate(self, root: Optional[Path], download: bool) -> Path:
        """The dataset folder under ``root`` after checking its layout.

        Raise :class:`snnctl.errors.SnnctlError` when the data is missing or misplaced, naming the folder
        and saying which files to place where.
        """
        raise NotImplementedError

    def samples(self, split: str, root: Optional[Path]) -> list[tuple[str, int]]:
        """Every ``(image path, label)`` of ``split`` ("train" or "test"), in a stable order."""
        raise NotImplementedError

    # -- transforms -----------------------------------------------------------------------------------
    def train_transform(self) -> Compose:
        """Training: RandomResizedCrop to ``image_size`` then the augmentation, to a normalised tensor
        (``augment="none"``: the evaluation transform)."""
        if self.augment not in AUGMENTATIONS:
            raise SnnctlError(f"{self.name}: unknown augmentation {self.augment!r}",
                              f"Choose one of {', '.join(AUGMENTATIONS)}.")
        if self.augment == "none":
            return self.eval_transform()
        steps: list[Callable] = [RandomResizedCrop(self.image_size)]
        steps.append(AutoAugment() if self.augment == "autoaugment" else RandomHorizontalFlip())
        return Compose([*steps, ToTensor(), Normalize(self.mean, self.std)])

    def eval_transform(self) -> Compose:
        """Evaluation: resize the shorter side to ``resize``, center crop ``image_size``, normalise."""
        return Compose([Resize(self.resize), CenterCrop(self.image_size), ToTensor(), Normalize(self.mean, self.std)])

    def transform(self, train: bool) -> Compose:
        return self.train_transform() if train else self.eval_transform()

    # -- the torch dataset ------------------------------------------------------------------------------
    def dataset(self, split: str, root: Optional[Path], train: bool) -> ImageFiles:
        """The images of ``split`` as a torch dataset of ``(float32 [C, H, W], label)``, decoded lazily;
        ``train`` applies the training augmentation."""
        if split not in SPLITS:
            raise SnnctlError(f"{self.name} has no split {split!r}", f"Splits: {', '.join(SPLITS)}.")
        samples = self.samples(split, Path(root).expanduser() if root is not None else None)
        if not samples:
            raise SnnctlError(f"{self.name}: the {split} split has no images",
                              f"Run 'snnctl info dataset {self.name}' for the expected layout.")
        return ImageFiles(samples, self.transform(train), self.classes)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for ``snnctl info dataset``."""
        return {
            "classes": list(self.classes),
            "num_classes": len(self.classes),
            "channels": self.channels,
            "image_size": list(self.image_size),
            "default_frames": self.default_frames,
            "encoding": "direct: the normalised image is repeated over the T steps",
            "split_policy": self.split_policy,
            "augmentation": {"train": repr(self.train_transform()), "test": repr(self.eval_transform())},
            "normalisation": {"mean": list(self.mean), "std": list(self.std)},
        }
