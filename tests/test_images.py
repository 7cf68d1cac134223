"""Static-image datasets: a tiny ImageNet in the real ILSVRC2012 layouts, the transforms against hand
computations, reproducibility, DataLoader workers, and the errors for missing or bad data."""

from __future__ import annotations

import io
import json
import pickle
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import event_fixtures as fx
import snnctl
from snnctl.data.images import ImageDataset, ImageFiles
from snnctl.data.transforms import (
    AUTOAUGMENT_OPS, IMAGENET_MEAN, IMAGENET_POLICY, IMAGENET_STD, AutoAugment, CenterCrop,
    RandomHorizontalFlip, RandomResizedCrop, Resize, apply_op, augmentation_space, to_tensor,
)
from snnctl.errors import ConfigError, SnnctlError
from snnctl_plugins.imagenet import ImageNet
from snnctl_plugins.imagenet_wnids import WNIDS

CLASSES = ("n01440764", "n01443537", "n02123045")  # tench, goldfish, tabby
#: (width, height) of the training images of each class: portrait, landscape, square, wide
SIZES = ((40, 30), (30, 52), (36, 36), (64, 24))


@pytest.fixture(autouse=True)
def guard(monkeypatch):
    """No network; local (AF_UNIX) sockets stay open, as DataLoader workers pass tensors through them."""
    real_connect = socket.socket.connect
    network = fx.NetworkGuard(monkeypatch)
    refuse = socket.socket.connect

    def connect(sock, address):
        return real_connect(sock, address) if sock.family == socket.AF_UNIX else refuse(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return network


def noise(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def jpeg_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_imagenet(root: Path, val: str = "folders", classes=CLASSES, per_class=4, val_per_class=2, seed=0) -> Path:
    """``root/imagenet`` in the ILSVRC2012 layout; ``val`` is "folders" (val/<wnid>/) or "flat" (+ CSV).

    Validation images are named ILSVRC2012_val_%08d.JPEG in both layouts, so the two can be compared.
    """
    rng = np.random.default_rng(seed)
    folder = root / "imagenet"
    for wnid in classes:
        (folder / "train" / wnid).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = SIZES[i % len(SIZES)]
            ext = ("JPEG", "jpg", "jpeg", "JPEG")[i % 4]
            (folder / "train" / wnid / f"{wnid}_{i}.{ext}").write_bytes(jpeg_bytes(noise(rng, w, h)))
    rows = ["ImageId,PredictionString"]
    number = 0
    for wnid in classes:
        for _ in range(val_per_class):
            number += 1
            name = f"ILSVRC2012_val_{number:08d}"
            sub = folder / "val" / (wnid if val == "folders" else "")
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"{name}.JPEG").write_bytes(jpeg_bytes(noise(rng, 34, 28)))
            rows.append(f"{name},{wnid} 10 12 30 25 {wnid} 1 2 3 4")
    rows.append("ILSVRC2012_val_09999999,n01440764 1 1 2 2")  # a row without an image is harmless
    if val == "flat":
        (folder / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    return folder


def imagenet(**kwargs) -> ImageNet:
    kwargs.setdefault("classes", "folders")
    return snnctl.create("dataset", "imagenet", **kwargs)


def by_name(ds: ImageFiles) -> dict[str, int]:
    return {Path(ds.path(i)).name: int(ds.labels[i]) for i in range(len(ds))}


def pixel(c: int, value: float) -> float:
    """The normalised value of an 8-bit ``value`` in channel ``c``."""
    return (value / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]


# -- layout, classes and labels ------------------------------------------------------------------------
def test_wnids_are_the_1000_sorted_ilsvrc2012_classes():
    assert len(WNIDS) == 1000 and list(WNIDS) == sorted(set(WNIDS))
    assert all(re.fullmatch(r"n\d{8}", w) for w in WNIDS)
    assert (WNIDS[0], WNIDS[1], WNIDS[281], WNIDS[-1]) == ("n01440764", "n01443537", "n02123045", "n15075141")


def test_class_folders_give_sorted_classes_and_labels(tmp_path):
    folder = write_imagenet(tmp_path)
    d = imagenet(image_size=32, resize=36)
    assert d.locate(tmp_path, download=False) == folder
    assert d.classes == CLASSES
    train = d.dataset("train", tmp_path, train=True)
    assert len(train) == 12
    for i in range(len(train)):
        assert d.classes[int(train.labels[i])] == Path(train.path(i)).parent.name  # label = index of the folder
    assert [train.path(i) for i in range(4)] == sorted(str(p) for p in (folder / "train" / CLASSES[0]).iterdir())
    test = d.dataset("test", tmp_path, train=False)
    assert sorted(by_name(test).values()) == [0, 0, 1, 1, 2, 2]
    x, y = test[5]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32) and y == 2
    assert isinstance(d, ImageDataset) and d.default_frames == 6 and d.channels == 3


def test_flat_val_with_kaggle_solution_gives_the_same_labels(tmp_path):
    write_imagenet(tmp_path / "a", val="folders")
    flat = write_imagenet(tmp_path / "b", val="flat")
    assert not any(p.is_dir() for p in (flat / "val").iterdir())
    a = imagenet().dataset("test", tmp_path / "a", train=False)
    b = imagenet().dataset("test", tmp_path / "b", train=False)
    assert by_name(a) == by_name(b) and len(by_name(b)) == 6
    # Kaggle's archive as it unpacks: ILSVRC/Data/CLS-LOC/{train,val} beside the CSV files
    kaggle = tmp_path / "kaggle" / "imagenet"
    (kaggle / "ILSVRC" / "Data").mkdir(parents=True)
    shutil.copytree(flat / "train", kaggle / "ILSVRC" / "Data" / "CLS-LOC" / "train")
    shutil.copytree(flat / "val", kaggle / "ILSVRC" / "Data" / "CLS-LOC" / "val")
    shutil.copy(flat / "LOC_val_solution.csv", kaggle)
    (kaggle / "LOC_synset_mapping.txt").write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish\n")
    d = imagenet()
    assert by_name(d.dataset("test", tmp_path / "kaggle", train=False)) == by_name(b)
    assert d.describe()["class_names"] == ["tench, Tinca tinca", "goldfish", "n02123045"]


def test_ilsvrc2012_classes_are_fixed_and_labels_follow_them(tmp_path):
    folder = tmp_path / "imagenet"
    one = jpeg_bytes(noise(np.random.default_rng(1), 20, 16))
    for wnid in WNIDS:
        (folder / "train" / wnid).mkdir(parents=True)
        (folder / "train" / wnid / f"{wnid}_1.JPEG").write_bytes(one)
    for wnid in (WNIDS[3], WNIDS[999]):
        (folder / "val" / wnid).mkdir(parents=True)
        (folder / "val" / wnid / "v.JPEG").write_bytes(one)
    d = snnctl.create("dataset", "imagenet")
    assert d.classes == WNIDS  # known before any file is read
    train = d.dataset("train", tmp_path, train=False)
    assert len(train) == 1000 and train.labels.tolist() == list(range(1000))
    assert d.dataset("test", tmp_path, train=False).labels.tolist() == [3, 999]
    # a foreign folder, then a missing class, are refused by name
    (folder / "train" / "cats").mkdir()
    with pytest.raises(SnnctlError, match=r"train/cats is not an ILSVRC2012 class") as err:
        d.locate(tmp_path, download=False)
    assert "classes=folders" in err.value.hint
    shutil.rmtree(folder / "train" / "cats")
    shutil.rmtree(folder / "train" / WNIDS[7])
    with pytest.raises(SnnctlError, match=rf"lacks 1 of the 1000 ILSVRC2012 class folders \({WNIDS[7]}\)"):
        d.locate(tmp_path, download=False)


def test_root_defaults_to_the_data_folder_and_may_name_the_dataset_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_DATA", str(tmp_path / "data"))
    folder = write_imagenet(tmp_path / "data")
    assert imagenet().locate(None, download=False) == folder
    moved = tmp_path / "ILSVRC2012"
    folder.rename(moved)
    assert imagenet().locate(moved, download=False) == moved
    assert len(imagenet().dataset("train", moved, train=False)) == 12


# -- evaluation transform: resize the shorter side, center crop, normalise ---------------------------------
def test_eval_transform_matches_a_hand_computation(tmp_path):
    folder = write_imagenet(tmp_path)
    # 256 wide, 300 high: the shorter side is already 256, so the crop alone moves the pixels
    x_idx, y_idx = np.meshgrid(np.arange(256), np.arange(300))
    arr = np.stack([x_idx % 256, y_idx % 256, (x_idx + 2 * y_idx) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(arr, "RGB").save(folder / "val" / CLASSES[1] / "ILSVRC2012_val_00000099.png")
    test = imagenet().dataset("test", tmp_path, train=False)
    i = next(i for i in range(len(test)) if test.path(i).endswith(".png"))
    x, y = test[i]
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and y == 1
    top, left = round((300 - 224) / 2), (256 - 224) // 2  # 38, 16
    for row, col in ((0, 0), (10, 20), (223, 223)):
        sx, sy = left + col, top + row
        expected = [pixel(0, sx % 256), pixel(1, sy % 256), pixel(2, (sx + 2 * sy) % 256)]
        assert x[:, row, col].tolist() == pytest.approx(expected, abs=1e-6)

    # a landscape 40x30 image: shorter side to 256 -> 341x256 (torchvision truncates the longer side)
    img = noise(np.random.default_rng(3), 40, 30)
    assert Resize(256).output_size(40, 30) == (341, 256) and Resize(256)(img).size == (341, 256)
    assert Resize(256).output_size(30, 52) == (256, 443)
    d = imagenet()
    out = d.eval_transform()(img)
    by_hand = img.resize((341, 256), Image.Resampling.BILINEAR).crop((58, 16, 58 + 224, 16 + 224))
    r, g, b = by_hand.getpixel((100, 50))
    assert out.shape == (3, 224, 224)
    assert out[:, 50, 100].tolist() == pytest.approx([pixel(0, r), pixel(1, g), pixel(2, b)], abs=1e-6)


def test_center_crop_pads_small_images_and_to_tensor_is_exact():
    img = Image.fromarray(np.full((4, 6, 3), 200, np.uint8), "RGB")
    out = CenterCrop(8)(img)
    assert out.size == (8, 8)
    a = np.asarray(out)
    assert (a[2:6, 1:7] == 200).all() and a[0].sum() == 0 and a[:, 0].sum() == 0
    t = to_tensor(Image.fromarray(np.arange(24, dtype=np.uint8).reshape(2, 4, 3), "RGB"))
    assert t.shape == (3, 2, 4) and t[2, 1, 3].item() == pytest.approx(23 / 255)


def test_greyscale_and_cmyk_jpegs_are_served_as_rgb(tmp_path):
    folder = write_imagenet(tmp_path)
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (30, 40), dtype=np.uint8), "L").save(folder / "train" / CLASSES[0] / "grey.JPEG")
    noise(rng, 40, 30).convert("CMYK").save(folder / "train" / CLASSES[0] / "cmyk.JPEG")
    train = imagenet(image_size=24, resize=28).dataset("train", tmp_path, train=True)
    for i in range(len(train)):
        if Path(train.path(i)).stem in ("grey", "cmyk"):
            x, y = train[i]
            assert x.shape == (3, 24, 24) and y == 0


# -- RandomResizedCrop -----------------------------------------------------------------------------------
def test_random_resized_crop_size_reproducibility_and_fallback():
    rng = np.random.default_rng(0)
    images = [noise(rng, w, h) for w, h in ((300, 200), (31, 97), (1, 1), (500, 7), (64, 64))]
    crop = RandomResizedCrop((24, 40))
    for img in images:
        for _ in range(20):
            assert crop(img).size == (40, 24)

    def draws(seed: int, use_generator: bool) -> list[tuple[int, int, int, int]]:
        if use_generator:
            c = RandomResizedCrop(32, generator=torch.Generator().manual_seed(seed))
        else:
            torch.manual_seed(seed)
            c = RandomResizedCrop(32)
        return [c.get_params(300, 200) for _ in range(30)]

    for use_generator in (True, False):
        assert draws(5, use_generator) == draws(5, use_generator)
        assert draws(5, use_generator) != draws(6, use_generator)
    for top, left, h, w in draws(1, True):
        assert 0 <= top <= 200 - h and 0 <= left <= 300 - w
        assert 0.08 * 60000 * 0.9 <= h * w <= 60000 and 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1

    # no draw fits a 1000x10 strip: central crop with the ratio clamped to 4/3 -> 13x10 at x = 493
    assert RandomResizedCrop(32).get_params(1000, 10) == (0, 493, 10, 13)
    assert RandomResizedCrop(32).get_params(10, 1000) == (493, 0, 13, 10)  # clamped to 3/4: h = round(10 / 0.75)
    # the crop taken is the one drawn, resized bilinearly
    g = torch.Generator().manual_seed(9)
    c = RandomResizedCrop(16, generator=g)
    state = g.get_state()
    top, left, h, w = c.get_params(300, 200)
    g.set_state(state)
    img = images[0]
    by_hand = img.crop((left, top, left + w, top + h)).resize((16, 16), Image.Resampling.BILINEAR)
    assert np.array_equal(np.asarray(c(img)), np.asarray(by_hand))


def test_horizontal_flip_mirrors_with_probability_p():
    img = noise(np.random.default_rng(2), 9, 5)
    assert np.array_equal(np.asarray(RandomHorizontalFlip(p=1.0)(img)), np.asarray(img)[:, ::-1])
    assert RandomHorizontalFlip(p=0.0)(img) is img
    g = torch.Generator().manual_seed(0)
    flips = sum(RandomHorizontalFlip(generator=g)(img) is not img for _ in range(400))
    assert 150 < flips < 250


# -- AutoAugment -----------------------------------------------------------------------------------------
def test_imagenet_policy_and_magnitude_bins():
    assert len(IMAGENET_POLICY) == 25 and all(len(sub) == 2 for sub in IMAGENET_POLICY)
    for sub in IMAGENET_POLICY:
        for op, p, bin_ in sub:
            assert op in AUTOAUGMENT_OPS and 0 <= p <= 1 and (bin_ is None or 0 <= bin_ <= 9)
    assert IMAGENET_POLICY[0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))
    assert IMAGENET_POLICY[18] == (("ShearX", 0.6, 5), ("Equalize", 1.0, None))
    space = augmentation_space(10, 224, 112)
    assert set(space) == set(AUTOAUGMENT_OPS)
    assert space["Posterize"] == ([8, 8, 7, 7, 6, 6, 5, 5, 4, 4], False)
    assert space["Rotate"][0][9] == pytest.approx(30.0) and space["Rotate"][1]
    assert space["ShearX"][0][5] == pytest.approx(0.3 * 5 / 9)
    assert space["TranslateX"][0][9] == pytest.approx(150 / 331 * 224, rel=1e-6)
    assert space["TranslateY"][0][9] == pytest.approx(150 / 331 * 112, rel=1e-6)
    assert space["Solarize"][0][0] == 255 and space["Solarize"][0][9] == 0 and not space["Solarize"][1]
    assert space["Color"][0][9] == pytest.approx(0.9)


@pytest.mark.parametrize("op", AUTOAUGMENT_OPS)
def test_every_autoaugment_op_keeps_size_and_mode(op):
    img = noise(np.random.default_rng(4), 37, 23)
    magnitudes, signed = augmentation_space(10, *img.size)[op]
    for m in {magnitudes[0], magnitudes[len(magnitudes) // 2], magnitudes[-1]}:
        for sign in ((1, -1) if signed else (1,)):
            out = apply_op(img, op, sign * m)
            assert out.size == img.size and out.mode == "RGB"


def test_autoaugment_ops_match_hand_computations():
    rng = np.random.default_rng(5)
    img = noise(rng, 20, 12)
    a = np.asarray(img).astype(int)
    assert np.array_equal(np.asarray(apply_op(img, "Invert", 0.0)), 255 - a)
    solarized = np.asarray(apply_op(img, "Solarize", 128.0))
    assert np.array_equal(solarized, np.where(a < 128, a, 255 - a))
    assert np.array_equal(np.asarray(apply_op(img, "Posterize", 4.0)), a & 0xF0)
    # TranslateX by +5: the content moves right, the uncovered columns are black
    moved = np.asarray(apply_op(img, "TranslateX", 5.9))
    assert np.array_equal(moved[:, 5:], a[:, :-5]) and moved[:, :5].sum() == 0
    moved = np.asarray(apply_op(img, "TranslateY", -3.0))
    assert np.array_equal(moved[:-3], a[3:]) and moved[-3:].sum() == 0
    # ShearX by m: output (x, y) reads input (x + m*y, y), nearest neighbour
    sheared = np.asarray(apply_op(img, "ShearX", 0.25))
    for x, y in ((3, 4), (10, 11), (0, 0)):
        sx = int(np.floor(x + 0.5 + 0.25 * (y + 0.5)))
        assert (sheared[y, x] == a[y, sx]).all()
    sq = noise(rng, 16, 16)
    assert np.array_equal(np.asarray(apply_op(sq, "Rotate", 90.0)), np.asarray(sq.transpose(Image.Transpose.ROTATE_90)))
    grey = Image.fromarray(np.full((6, 6, 3), 100, np.uint8), "RGB")
    assert np.asarray(apply_op(grey, "Brightness", 0.5)).max() == 150
    with pytest.raises(ValueError, match="unknown AutoAugment operation 'Blur'"):
        apply_op(img, "Blur", 1.0)


def test_autoaugment_is_reproducible_under_the_same_seed():
    rng = np.random.default_rng(6)
    images = [noise(rng, 24, 24) for _ in range(24)]

    def run(seed: int) -> list[bytes]:
        torch.manual_seed(seed)
        aa = AutoAugment()
        return [aa(img).tobytes() for img in images]

    assert run(0) == run(0)
    assert run(0) != run(1)
    assert sum(out != img.tobytes() for out, img in zip(run(0), images)) > 6  # most draws change the image
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a1, a2 = AutoAugment(generator=g1), AutoAugment(generator=g2)
    assert [a1(im).tobytes() for im in images] == [a2(im).tobytes() for im in images]


def test_training_pipelines_follow_the_augment_setting(tmp_path):
    write_imagenet(tmp_path)
    reprs = {a: repr(imagenet(augment=a).train_transform()) for a in ("autoaugment", "flip", "none")}
    assert "RandomResizedCrop" in reprs["autoaugment"] and "AutoAugment(ImageNet policy)" in reprs["autoaugment"]
    assert "Flip" not in reprs["autoaugment"]  # the paper's recipe has no explicit flip
    assert "RandomHorizontalFlip" in reprs["flip"] and "AutoAugment" not in reprs["flip"]
    assert reprs["none"] == repr(imagenet().eval_transform())
    train = imagenet(image_size=32, resize=40).dataset("train", tmp_path, train=True)
    torch.manual_seed(0)
    first = torch.stack([train[i][0] for i in range(len(train))])
    torch.manual_seed(0)
    assert torch.equal(first, torch.stack([train[i][0] for i in range(len(train))]))
    assert first.shape == (12, 3, 32, 32)
    info = imagenet().describe()
    json.dumps(info)
    assert info["default_frames"] == 6 and info["image_size"] == [224, 224]
    assert "AutoAugment" in info["augmentation"]["train"] and "CenterCrop(224x224)" in info["augmentation"]["test"]


def test_dataloader_with_two_workers_is_reproducible(tmp_path):
    write_imagenet(tmp_path)
    train = imagenet(image_size=32, resize=36).dataset("train", tmp_path, train=True)
    assert pickle.loads(pickle.dumps(train)).path(7) == train.path(7)

    def epoch() -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(0)
        xs, ys = zip(*DataLoader(train, batch_size=4, num_workers=2))
        return torch.cat(xs), torch.cat(ys)

    x1, y1 = epoch()
    x2, y2 = epoch()
    assert x1.shape == (12, 3, 32, 32) and y1.tolist() == train.labels.tolist()
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


# -- errors ------------------------------------------------------------------------------------------------
def test_corrupt_and_truncated_images_are_named(tmp_path):
    folder = write_imagenet(tmp_path)
    bad = folder / "train" / CLASSES[0] / "zz_garbage.JPEG"
    bad.write_bytes(b"this is not a JPEG at all" * 20)
    good = (folder / "train" / CLASSES[1] / f"{CLASSES[1]}_0.JPEG").read_bytes()
    cut = folder / "train" / CLASSES[1] / "zz_truncated.JPEG"
    cut.write_bytes(good[: len(good) // 2])
    train = imagenet(image_size=32, resize=36).dataset("train", tmp_path, train=False)
    for path in (bad, cut):
        i = next(i for i in range(len(train)) if train.path(i) == str(path))
        with pytest.raises(SnnctlError, match=re.escape(str(path))) as err:
            train[i]
        assert "corrupt or truncated" in err.value.hint
    with pytest.raises(SnnctlError, match=re.escape(str(bad))):  # also from a DataLoader worker
        list(DataLoader(train, batch_size=16, num_workers=1))


@pytest.mark.parametrize("download", [False, True])
def test_missing_data_names_the_folder_and_what_to_place(tmp_path, guard, download):
    with pytest.raises(SnnctlError) as err:
        imagenet().locate(tmp_path, download=download)
    folder = tmp_path / "imagenet"
    assert str(folder) in err.value.message
    hint = err.value.hint
    assert "cannot be downloaded automatically" in hint and "image-net.org" in hint
    assert f"{folder}/train/<wnid>/*.JPEG" in hint and f"{folder}/val/<wnid>/*.JPEG" in hint
    assert "LOC_val_solution.csv" in hint and f"--root {tmp_path}" in hint
    assert guard.attempts == []


def test_layout_errors_name_the_file_or_folder(tmp_path):
    def fails(pattern: str, split: str = "test") -> None:
        with pytest.raises(SnnctlError, match=pattern):
            imagenet().dataset(split, tmp_path, train=False)

    folder = write_imagenet(tmp_path)
    (folder / "val" / "n09999999").mkdir()
    fails(r"validation class folder .*val/n09999999 is not a class of train/")
    (folder / "val" / "n09999999").rmdir()
    (folder / "train" / "n09999999").mkdir()
    fails(r"class folder .*train/n09999999 holds no images", split="train")
    (folder / "train" / "n09999999").rmdir()
    shutil.copy(folder / "val" / CLASSES[0] / "ILSVRC2012_val_00000001.JPEG", folder / "val" / "loose.JPEG")
    fails(r"mixes class folders and loose images")
    shutil.rmtree(folder / "val")
    fails(r"no ImageNet validation images: .*val does not exist")

    flat = write_imagenet(tmp_path / "f", val="flat")
    csv_path = flat / "LOC_val_solution.csv"
    rows = csv_path.read_text()
    csv_path.write_text(rows.replace("ILSVRC2012_val_00000004,", "ILSVRC2012_val_00000444,"))
    with pytest.raises(SnnctlError, match=r"val/ILSVRC2012_val_00000004.JPEG has no row in .*LOC_val_solution.csv"):
        imagenet().dataset("test", tmp_path / "f", train=False)
    csv_path.write_text(rows.replace(f"ILSVRC2012_val_00000002,{CLASSES[0]}", "ILSVRC2012_val_00000002,n07753592"))
    with pytest.raises(SnnctlError, match=r"ILSVRC2012_val_00000002.JPEG is labelled n07753592 .*line 3"):
        imagenet().dataset("test", tmp_path / "f", train=False)
    csv_path.write_text("image,label\n")
    with pytest.raises(SnnctlError, match=r"is not Kaggle's LOC_val_solution.csv"):
        imagenet().dataset("test", tmp_path / "f", train=False)
    csv_path.unlink()
    with pytest.raises(SnnctlError, match=r"without class folders, and no LOC_val_solution.csv") as err:
        imagenet().locate(tmp_path / "f", download=False)
    assert str(flat) in err.value.hint

    empty = tmp_path / "e" / "imagenet"
    (empty / "train").mkdir(parents=True)
    with pytest.raises(SnnctlError, match=r"train has no class folders"):
        imagenet().locate(tmp_path / "e", download=False)
    write_imagenet(tmp_path / "d")
    with pytest.raises(SnnctlError, match=r"the 1000 ILSVRC2012 class folders"):  # the default classes
        snnctl.create("dataset", "imagenet").locate(tmp_path / "d", download=False)
    with pytest.raises(SnnctlError, match=r"no split 'val'"):
        imagenet().dataset("val", tmp_path / "d", train=False)


def test_settings_are_validated():
    assert imagenet(image_size=128, resize=146).image_size == (128, 128)
    with pytest.raises(ConfigError, match=r"resize \(200\) must be at least image_size \(224\)"):
        snnctl.create("dataset", "imagenet", resize=200)
    with pytest.raises(ConfigError, match=r"augment"):
        snnctl.create("dataset", "imagenet", augment="mixup")
    assert "imagenet" in snnctl.list_components("dataset")
