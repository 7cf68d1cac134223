"""Event-camera datasets read through tonic: DVS128 Gesture, CIFAR10-DVS, N-Caltech101, N-MNIST.

Each dataset finds its recordings in tonic's on-disk layout under ``ROOT/<tonic class name>/`` (the
``save_to`` folder tonic uses; ``--root`` may also name that class folder itself) and reads every
recording with the tonic dataset class's own ``__getitem__``, so the events are exactly tonic's.
The listing is snnctl's own walk of the same layout: one bad file is then reported by name instead
of failing the whole dataset, and no minimum file count forces a download of data that is present.

Missing data is downloaded from the URLs and checksums tonic declares, archives are unpacked by
:func:`snnctl.data.archive.safe_extract` (including the inner archives tonic leaves packed), and a
failed download ends in one message saying which files to place where.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from snnctl import hookimpl
from snnctl.data.archive import safe_extract
from snnctl.data.base import EventDataset, Recording, data_root
from snnctl.data.frames import RecordingError
from snnctl.errors import SnnctlError

DOWNLOAD_TIMEOUT_S = 60


class TonicDataset(EventDataset):
    """Shared machinery of the tonic-backed datasets."""

    tonic_class = ""
    #: (url attribute, file name attribute, md5 attribute) of each archive on the tonic class
    downloads: tuple[tuple[str, str, str], ...] = ()
    extension = ""

    def __init__(self, split_seed: Optional[int] = None) -> None:
        if split_seed is not None:
            self.split_seed = split_seed

    # -- tonic ---------------------------------------------------------------------------------------
    def tonic(self) -> Any:
        import tonic.datasets

        return getattr(tonic.datasets, self.tonic_class)

    def reader_state(self) -> dict[str, Any]:
        """Attributes the tonic class's ``__getitem__`` reads besides data and targets."""
        return {}

    def read(self, recording: Recording) -> np.ndarray:
        cls = self.tonic()
        reader = cls.__new__(cls)  # tonic's constructor would walk (and maybe download) the whole dataset
        reader.data, reader.targets = [recording.path], [recording.label]
        reader.transform = reader.target_transform = reader.transforms = None
        for name, value in self.reader_state().items():
            setattr(reader, name, value)
        events, _ = cls.__getitem__(reader, 0)
        return events

    # -- finding the data ----------------------------------------------------------------------------
    def folder(self, root: Optional[Path]) -> Path:
        base = Path(root).expanduser() if root is not None else data_root()
        if base.name == self.tonic_class and not (base / self.tonic_class).is_dir():
            return base
        return base / self.tonic_class

    def scan(self, folder: Path) -> list[Recording]:
        raise NotImplementedError

    def archive_names(self) -> list[str]:
        cls = self.tonic()
        return [getattr(cls, f) for _, f, _ in self.downloads]

    def locate(self, root: Optional[Path], download: bool) -> list[Recording]:
        folder = self.folder(root)
        recordings = self.scan(folder)
        if not recordings and folder.is_dir():
            self._unpack(folder)  # archives placed by hand, not yet extracted
            recordings = self.scan(folder)
        if not recordings and download:
            self._download(folder)
            recordings = self.scan(folder)
        if not recordings:
            raise SnnctlError(
                f"no {self.name} recordings ({self.extension} files) under {folder}"
                + ("" if download else " and downloading is off"),
                self._placement_hint(folder),
            )
        return recordings

    def _placement_hint(self, folder: Path) -> str:
        cls = self.tonic()
        files = ", ".join(f"{getattr(cls, f)} (from {getattr(cls, u)})" for u, f, _ in self.downloads)
        return (f"Place {files} in {folder}/ (tonic's layout; snnctl unpacks it), or the unpacked folders, "
                f"then pass --root {folder.parent}.")

    def _unpack(self, folder: Path) -> None:
        for name in self.archive_names():
            archive = folder / name
            if archive.is_file():
                safe_extract(archive, folder)
        # archives inside archives (CIFAR10-DVS per class, N-Caltech101's Caltech101.zip)
        for inner in sorted(folder.glob("*.zip")):
            if inner.name not in self.archive_names() and not (folder / inner.stem).exists():
                safe_extract(inner, folder)

    def _download(self, folder: Path) -> None:
        from tonic.download_utils import download_url

        cls = self.tonic()
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a dead link fails instead of hanging
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for url_attr, file_attr, md5_attr in self.downloads:
                name = getattr(cls, file_attr)
                if not (folder / name).is_file():
                    download_url(getattr(cls, url_attr), str(folder), filename=name, md5=getattr(cls, md5_attr))
        except (Exception, SystemExit) as exc:  # urllib, socket, checksum and tonic errors alike
            raise SnnctlError(
                f"could not download {self.name} ({type(exc).__name__}: {exc})",
                self._placement_hint(folder),
            ) from None
        finally:
            socket.setdefaulttimeout(previous)
        self._unpack(folder)


def _walk(folder: Path, extension: str) -> list[Path]:
    return sorted(p for p in folder.rglob(f"*{extension}") if p.is_file()) if folder.is_dir() else []


def _key(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _bin_reader_check(recording: Recording) -> None:
    size = os.path.getsize(recording.path)
    if size == 0:
        raise RecordingError("the file is empty")
    if size % 5:
        raise RecordingError(f"truncated: {size} bytes is not a whole number of 5-byte events")


# -- DVS128 Gesture ------------------------------------------------------------------------------------
class DVSGesture(TonicDataset):
    """DVS128 Gesture (IBM): 11 hand and arm gestures, 29 subjects, 3 lighting conditions, 128x128."""

    name = "dvsgesture"
    tonic_class = "DVSGesture"
    downloads = (("train_url", "train_filename", "train_md5"), ("test_url", "test_filename", "test_md5"))
    extension = ".npy"
    sensor_size = (128, 128, 2)
    default_frames = 16
    split_policy = "official"
    classes = ("hand clapping", "right hand wave", "left hand wave", "right arm clockwise",
               "right arm counter-clockwise", "left arm clockwise", "left arm counter-clockwise",
               "arm roll", "air drums", "air guitar", "other gestures")

    def scan(self, folder: Path) -> list[Recording]:
        out = []
        for split, sub in (("train", "ibmGestureTrain"), ("test", "ibmGestureTest")):
            for path in _walk(folder / sub, ".npy"):
                label = int(path.stem) if path.stem.isdigit() else -1  # the file name is the label
                out.append(Recording(_key(path, folder), label, split, str(path)))
        return out

    def read(self, recording: Recording) -> np.ndarray:
        if os.path.getsize(recording.path) == 0:
            raise RecordingError("the file is empty")
        return super().read(recording)


# -- N-MNIST -------------------------------------------------------------------------------------------
class NMNISTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_saccade_only: bool = Field(False, description="keep only the first of the three saccades (t < 100 ms)")
    stabilize: bool = Field(False, description="remove the saccade motion (tonic's stabilize)")


class NMNIST(TonicDataset):
    """N-MNIST: MNIST digits recorded by an ATIS sensor over three saccades, 34x34."""

    name = "nmnist"
    tonic_class = "NMNIST"
    downloads = (("train_url", "train_filename", "train_md5"), ("test_url", "test_filename", "test_md5"))
    extension = ".bin"
    sensor_size = (34, 34, 2)
    default_frames = 10
    split_policy = "official"
    classes = tuple(str(d) for d in range(10))

    def __init__(self, first_saccade_only: bool = False, stabilize: bool = False) -> None:
        super().__init__()
        self.first_saccade_only, self.stabilize = first_saccade_only, stabilize

    def params(self) -> dict[str, Any]:
        return {"first_saccade_only": self.first_saccade_only, "stabilize": self.stabilize}

    def reader_state(self) -> dict[str, Any]:
        return self.params()

    def scan(self, folder: Path) -> list[Recording]:
        out = []
        for split, sub in (("train", "Train"), ("test", "Test")):
            for path in _walk(folder / sub, ".bin"):
                digit = path.parent.name
                label = int(digit) if digit.isdigit() and len(digit) == 1 else -1
                out.append(Recording(_key(path, folder), label, split, str(path)))
        return out

    def read(self, recording: Recording) -> np.ndarray:
        _bin_reader_check(recording)
        return super().read(recording)


# -- N-Caltech101 --------------------------------------------------------------------------------------
class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split_seed: Optional[int] = Field(None, description="seed of the per-class 9:1 shuffle (default: the dataset's)")


class NCaltech101(TonicDataset):
    """N-Caltech101: Caltech101 images recorded by an ATIS sensor over saccades, up to 240x180."""

    name = "ncaltech101"
    tonic_class = "NCALTECH101"
    downloads = (("url", "filename", "file_md5"),)
    extension = ".bin"
    sensor_size = (240, 180, 2)
    default_frames = 14
    split_seed = 3402
    classes: tuple[str, ...] = ()

    def scan(self, folder: Path) -> list[Recording]:
        paths = _walk(folder / "Caltech101", ".bin")
        # tonic's targets are the folder names; the label is the index in their sorted list
        self.classes = tuple(sorted({p.parent.name for p in paths}))
        index = {c: i for i, c in enumerate(self.classes)}
        return [Recording(_key(p, folder), index[p.parent.name], None, str(p)) for p in paths]

    def read(self, recording: Recording) -> np.ndarray:
        _bin_reader_check(recording)
        return super().read(recording)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["classes"] = "the class folders found under Caltech101/ (sorted)"
        info["num_classes"] = "as found (101 in the published archive)"
        return info


# -- CIFAR10-DVS ---------------------------------------------------------------------------------------
class CIFAR10DVS(TonicDataset):
    """CIFAR10-DVS: CIFAR-10 images moved in front of a DVS128 sensor, 10 classes, 128x128."""

    name = "cifar10dvs"
    tonic_class = "CIFAR10DVS"
    downloads = (("url", "filename", "file_md5"),)
    extension = ".aedat4"
    sensor_size = (128, 128, 2)
    default_frames = 10
    split_seed = 3404
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def scan(self, folder: Path) -> list[Recording]:
        index = {c: i for i, c in enumerate(self.classes)}
        return [Recording(_key(p, folder), index.get(p.parent.name, -1), None, str(p))
                for p in _walk(folder, ".aedat4")]

    def read(self, recording: Recording) -> np.ndarray:
        if os.path.getsize(recording.path) == 0:
            raise RecordingError("the file is empty")
        return super().read(recording)


class NoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@hookimpl
def register_datasets(register):
    register("dvsgesture", DVSGesture, config=NoConfig)
    register("cifar10dvs", CIFAR10DVS, config=SplitConfig)
    register("ncaltech101", NCaltech101, config=SplitConfig)
    register("nmnist", NMNIST, config=NMNISTConfig)
