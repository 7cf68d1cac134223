"""ImageNet-1K (ILSVRC2012) as a static-image dataset: 1000 classes, direct encoding over T steps.

Layout (torchvision's ``ImageFolder`` layout), in the dataset folder ``ROOT/imagenet/``::

    train/<wnid>/*.JPEG          1.28 million training images, one folder per class
    val/<wnid>/*.JPEG            the 50,000 validation images (the test split), or
    val/ILSVRC2012_val_*.JPEG    the same images flat, with LOC_val_solution.csv (Kaggle's labels)
    LOC_val_solution.csv         beside train/ and val/ (only needed for the flat val/)
    LOC_synset_mapping.txt       optional: readable class names

``ROOT`` is ``--root`` (which may also name the folder holding train/ and val/ itself), else
:func:`snnctl.data.base.data_root`. Kaggle's archive unpacked as it comes (``ILSVRC/Data/CLS-LOC/``
beside the CSV files) is found too. Image files end in .JPEG, .jpg, .jpeg or .png in any case.

Classes are the 1000 ILSVRC2012 WordNet ids, sorted (the label order of torchvision and timm, equal
to the sorted class folders of a complete train/), so they are known before any file is read; with
``classes="folders"`` they are the class folders found in train/ instead (subsets such as ImageNet-100).

ImageNet cannot be downloaded automatically: its images are given only to registered users.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snnctl import hookimpl
from snnctl.data.base import data_root
from snnctl.data.images import IMAGE_EXTENSIONS, ImageDataset, is_image_file
from snnctl.errors import SnnctlError
from snnctl_plugins.imagenet_wnids import WNIDS

VAL_SOLUTION = "LOC_val_solution.csv"
SYNSET_MAPPING = "LOC_synset_mapping.txt"
#: where Kaggle's archive keeps the images, relative to the dataset folder
KAGGLE_IMAGES = ("ILSVRC", "Data", "CLS-LOC")
DOWNLOAD_PAGE = "https://image-net.org/download-images"
KAGGLE_PAGE = "https://www.kaggle.com/c/imagenet-object-localization-challenge/data"
_WNID_SET = frozenset(WNIDS)
EXTENSIONS_TEXT = "/".join(e.lstrip(".") for e in IMAGE_EXTENSIONS) + " (any case)"


class ImageNetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_size: int = Field(224, ge=16, le=1024, description="height and width of the images served (the crop)")
    resize: int = Field(256, ge=16, le=2048, description="shorter side before the evaluation center crop")
    augment: Literal["autoaugment", "flip", "none"] = Field(
        "autoaugment",
        description="training augmentation after RandomResizedCrop: the paper's AutoAugment (ImageNet policy), "
                    "a horizontal flip, or none (training then uses the evaluation transform)")
    classes: Literal["ilsvrc2012", "folders"] = Field(
        "ilsvrc2012",
        description="the 1000 ILSVRC2012 wnids (all must be present), or the class folders found in train/")

    @model_validator(mode="after")
    def _crop_fits(self) -> "ImageNetConfig":
        if self.resize < self.image_size:
            raise ValueError(f"resize ({self.resize}) must be at least image_size ({self.image_size}): "
                             "the evaluation crop is taken from the resized image")
        return self


class ImageNet(ImageDataset):
    """ImageNet-1K (ILSVRC2012): 1000 classes, train / val folders, 224x224 crops repeated over T steps."""

    name = "imagenet"
    folder_name = "imagenet"
    default_frames = 6  # the released ImageNet script (the appendix uses 5 for ResNet-104)
    split_policy = "official: train/ for training, val/ (the ILSVRC2012 validation set) for test"

    def __init__(self, image_size: int = 224, resize: int = 256, augment: str = "autoaugment",
                 classes: str = "ilsvrc2012") -> None:
        self.image_size = (image_size, image_size)
        self.resize = resize
        self.augment = augment
        self.class_source = classes
        self.classes = WNIDS if classes == "ilsvrc2012" else ()
        #: readable names by wnid, from LOC_synset_mapping.txt where present
        self.class_names: dict[str, str] = {}

    # -- where the files are ------------------------------------------------------------------------------
    def folder(self, root: Optional[Path]) -> Path:
        """The dataset folder: ``ROOT/imagenet``, or ``ROOT`` itself when it holds train/ or val/."""
        if root is None:
            return data_root() / self.folder_name
        base = Path(root).expanduser()
        if (base / self.folder_name).is_dir():
            return base / self.folder_name
        if any((base / sub).is_dir() for sub in ("train", "val", KAGGLE_IMAGES[0])):
            return base
        return base / self.folder_name

    @staticmethod
    def images_folder(folder: Path) -> Path:
        """The folder holding train/ and val/: the dataset folder, or Kaggle's ILSVRC/Data/CLS-LOC in it."""
        if (folder / "train").is_dir() or (folder / "val").is_dir():
            return folder
        kaggle = folder.joinpath(*KAGGLE_IMAGES)
        return kaggle if kaggle.is_dir() else folder

    def placement_hint(self, folder: Path) -> str:
        return (f"ImageNet-1K cannot be downloaded automatically: its images are given only to registered users. "
                f"Download ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from {DOWNLOAD_PAGE} (or the "
                f"Kaggle archive from {KAGGLE_PAGE}), then place the training images as {folder}/train/<wnid>/*.JPEG "
                f"(ILSVRC2012_img_train.tar holds one <wnid>.tar per class: unpack each into its own folder) and the "
                f"validation images as {folder}/val/<wnid>/*.JPEG, or flat in {folder}/val/ with Kaggle's "
                f"{VAL_SOLUTION} in {folder}/. " + self._root_advice(folder))

    def _root_advice(self, folder: Path) -> str:
        if folder == data_root() / self.folder_name:
            return "snnctl looks there without --root ($SNNCTL_DATA moves it); data elsewhere needs --root DIR."
        return f"Then pass --root {folder.parent} (or --root {folder})."

    # -- checking the layout ------------------------------------------------------------------------------
    def locate(self, root: Optional[Path], download: bool) -> Path:
        """The dataset folder, after checking that train/ and val/ are laid out as documented.

        Sets ``classes`` (with ``classes="folders"``) and ``class_names``. ``download`` changes nothing:
        ImageNet is never downloaded, and missing data ends in one message saying what to place where.
        """
        folder = self.folder(root)
        images = self.images_folder(folder)
        self.classes = tuple(self._train_classes(folder, images))
        self._val_layout(folder, images)
        self.class_names = self._read_names(folder, images)
        return folder

    def _train_classes(self, folder: Path, images: Path) -> list[str]:
        train = images / "train"
        if not train.is_dir():
            what = f"{folder} does not exist" if not folder.exists() else f"{train} does not exist"
            raise SnnctlError(f"no ImageNet training images: {what}", self.placement_hint(folder))
        found = sorted(e.name for e in os.scandir(train) if e.is_dir() and not e.name.startswith("."))
        if not found:
            loose = any(is_image_file(e.name) for e in os.scandir(train))
            raise SnnctlError(
                f"{train} has no class folders" + (" (it holds images directly)" if loose else ""),
                f"The training images go in one folder per class, {train}/<wnid>/*.JPEG. "
                + self.placement_hint(folder))
        if self.class_source == "folders":
            return found
        unknown = [name for name in found if name not in _WNID_SET]
        if unknown:
            raise SnnctlError(
                f"{train / unknown[0]} is not an ILSVRC2012 class (a WordNet id such as n01440764)"
                + (f", nor are {len(unknown) - 1} more folders" if len(unknown) > 1 else ""),
                "Remove or rename it, or set classes=folders (snnctl train --set data.args.classes=folders) to use the "
                "class folders found in train/ as the classes.")
        present = set(found)
        missing = [w for w in WNIDS if w not in present]
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise SnnctlError(
                f"{train} lacks {len(missing)} of the 1000 ILSVRC2012 class folders ({shown})",
                "Unpack every class (ILSVRC2012_img_train.tar holds one <wnid>.tar per class, each into "
                f"{train}/<wnid>/), or set classes=folders (snnctl train --set data.args.classes=folders) to train on "
                f"the {len(found)} classes present.")
        return list(WNIDS)

    def _val_layout(self, folder: Path, images: Path) -> tuple[str, Optional[Path]]:
        """("folders", None) or ("flat", the solution CSV), after checking val/."""
        val = images / "val"
        if not val.is_dir():
            raise SnnctlError(f"no ImageNet validation images: {val} does not exist", self.placement_hint(folder))
        entries = list(os.scandir(val))
        class_dirs = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
        loose = sorted(e.name for e in entries if e.is_file() and is_image_file(e.name))
        if class_dirs:
            if loose:
                raise SnnctlError(f"{val} mixes class folders and loose images ({val / loose[0]}, ...)",
                                  "Keep one layout: val/<wnid>/*.JPEG, or all images flat in val/ with "
                                  f"{VAL_SOLUTION} in {folder}/.")
            classes = set(self.classes)
            stray = [name for name in class_dirs if name not in classes]
            if stray:
                raise SnnctlError(f"validation class folder {val / stray[0]} is not a class of train/"
                                  + (f" ({len(stray) - 1} more)" if len(stray) > 1 else ""),
                                  "The validation class folders must be among the training class folders: "
                                  "remove it or add its training images.")
            return "folders", None
        if not loose:
            raise SnnctlError(f"no ImageNet validation images in {val}",
                              f"Place them as {val}/<wnid>/*.JPEG, or flat in {val}/ with {VAL_SOLUTION} in {folder}/.")
        solution = self._solution_file(folder, images)
        if solution is None:
            raise SnnctlError(
                f"{val} holds the validation images without class folders, and no {VAL_SOLUTION} gives their labels",
                f"Place Kaggle's {VAL_SOLUTION} (columns ImageId,PredictionString) in {folder}/, "
                f"or move each image into {val}/<wnid>/.")
        return "flat", solution

    @staticmethod
    def _solution_file(folder: Path, images: Path) -> Optional[Path]:
        for place in dict.fromkeys((folder, images)):
            if (place / VAL_SOLUTION).is_file():
                return place / VAL_SOLUTION
        return None

    @staticmethod
    def _read_names(folder: Path, images: Path) -> dict[str, str]:
        """Readable class names from LOC_synset_mapping.txt ("n01440764 tench, Tinca tinca"), if present."""
        for place in dict.fromkeys((folder, images)):
            path = place / SYNSET_MAPPING
            if path.is_file():
                names = {}
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                    wnid, _, text = line.strip().partition(" ")
                    if wnid:
                        names[wnid] = text.strip().lstrip(":").strip() or wnid
                return names
        return {}

    # -- listing the images ---------------------------------------------------------------------------------
    def samples(self, split: str, root: Optional[Path]) -> list[tuple[str, int]]:
        folder = self.locate(root, download=False)
        images = self.images_folder(folder)
        index = {c: i for i, c in enumerate(self.classes)}
        if split == "train":
            return [s for wnid in self.classes for s in self._class_images(images / "train" / wnid, index[wnid])]
        layout, solution = self._val_layout(folder, images)
        val = images / "val"
        if layout == "folders":
            present = sorted(e.name for e in os.scandir(val) if e.is_dir() and not e.name.startswith("."))
            return [s for wnid in present for s in self._class_images(val / wnid, index[wnid])]
        return self._flat_val(val, solution, index)

    @staticmethod
    def _class_images(class_dir: Path, label: int) -> list[tuple[str, int]]:
        """The images under one class folder (recursively), sorted like torchvision's ImageFolder."""
        out = []
        for dirpath, _, filenames in sorted(os.walk(class_dir, followlinks=True)):
            out += [(os.path.join(dirpath, name), label) for name in sorted(filenames) if is_image_file(name)]
        if not out:
            raise SnnctlError(f"class folder {class_dir} holds no images ({EXTENSIONS_TEXT})",
                              "Unpack the class's images into it (ILSVRC2012_img_train.tar holds one <wnid>.tar "
                              "per class), or remove the folder.")
        return out

    @staticmethod
    def _flat_val(val: Path, solution: Path, index: dict[str, int]) -> list[tuple[str, int]]:
        """Flat validation images labelled by Kaggle's solution file (ImageId,PredictionString)."""
        rows: dict[str, tuple[str, int]] = {}
        with open(solution, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
            if header[:2] != ["ImageId", "PredictionString"]:
                raise SnnctlError(f"{solution} is not Kaggle's {VAL_SOLUTION}: its header is {','.join(header)!r}",
                                  "Its first line must be 'ImageId,PredictionString'; each row names an image "
                                  "(without extension) and starts its PredictionString with the wnid.")
            for line, row in enumerate(reader, start=2):
                if not row or not row[0].strip():
                    continue
                tokens = row[1].split() if len(row) > 1 else []
                if not tokens:
                    raise SnnctlError(f"{solution}, line {line}: no wnid in the PredictionString of {row[0].strip()}",
                                      "Each PredictionString starts with the image's wnid (n01440764 ...).")
                rows[row[0].strip()] = (tokens[0], line)
        out = []
        for name in sorted(e.name for e in os.scandir(val) if e.is_file() and is_image_file(e.name)):
            image_id = os.path.splitext(name)[0]
            if image_id not in rows:
                raise SnnctlError(f"{val / name} has no row in {solution}",
                                  f"Add its row ({image_id},<wnid> ...) or remove the image.")
            wnid, line = rows[image_id]
            if wnid not in index:
                raise SnnctlError(f"{val / name} is labelled {wnid} ({solution}, line {line}), "
                                  "which is not a class of train/",
                                  "Remove the image, or add the class's training images to train/.")
            out.append((str(val / name), index[wnid]))
        return out

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if not self.classes:
            info["classes"] = "the class folders found in train/ (sorted)"
            info["num_classes"] = "as found"
        elif self.class_names:
            info["class_names"] = [self.class_names.get(c, c) for c in self.classes]
        info["class_source"] = self.class_source
        info["layout"] = ("ROOT/imagenet/train/<wnid>/*.JPEG and ROOT/imagenet/val/<wnid>/*.JPEG (or flat val/ with "
                          f"{VAL_SOLUTION}); ROOT is --root, else {data_root()}")
        info["download"] = f"by hand only (registration): {DOWNLOAD_PAGE}"
        return info


@hookimpl
def register_datasets(register):
    register("imagenet", ImageNet, config=ImageNetConfig,
             description="ImageNet-1K (ILSVRC2012) images in train/ and val/ class folders; "
                         "direct encoding over T steps")
