"""Recordings with arbitrary values and dtypes, written in each dataset's real file format: every reader either
returns exactly the values the file holds, or refuses the file naming a field, a row and the value stored
there. Nothing is cast, clipped or wrapped on the way into the cache."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnctl
from snnctl.data.base import Recording
from snnctl.data.frames import RecordingError, check_events

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))  # more: FUZZ_EXAMPLES=5000 pytest ...
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DTYPES = ["int16", "int32", "int64", "uint8", "uint16", "float32", "float64"]
SPECIALS = [-1, 0, 1, 2, 3.5, 127, 128, 179, 180, 239, 240, 255, 32767, 32768, 65535, 65541, 2**31, 2**53,
            9.3e18, 1e300, float("nan"), float("inf"), -float("inf")]


@st.composite
def column(draw, n: int, lo: int, hi: int) -> np.ndarray:
    """A column of ``n`` values in a random dtype: mostly valid (``lo``..``hi``), sometimes anything."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    valid = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    values = [draw(st.sampled_from(SPECIALS)) if draw(st.integers(0, 9)) == 0 else v for v in valid]
    with np.errstate(all="ignore"):
        return np.array(values, dtype=np.float64).astype(dtype)


@st.composite
def columns(draw, sensor: tuple[int, int], t_max: int) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 40))
    return {"x": draw(column(n, 0, sensor[0] - 1)), "y": draw(column(n, 0, sensor[1] - 1)),
            "p": draw(column(n, 0, 1)), "t": draw(column(n, 0, t_max))}


def valid(cols: dict[str, np.ndarray], sensor: tuple[int, int], scale: int = 1, in_place: bool = False) -> bool:
    """An independent statement of what a reader may accept: whole, finite numbers inside the sensor."""
    limits = {"x": sensor[0] - 1, "y": sensor[1] - 1, "p": 1}
    for f, v in cols.items():
        a = v.astype(np.float64)
        if not np.all(np.isfinite(a)) or not np.all(a == np.floor(a)) or np.any(a < 0):
            return False
        if f in limits and np.any(a > limits[f]):
            return False
    t = cols["t"]
    exact = t.astype(np.float64) * scale
    if in_place and t.dtype.kind == "f":  # the reader multiplies in the file's own float type
        with np.errstate(all="ignore"):
            if not np.all((t * t.dtype.type(scale)).astype(np.float64) == exact):
                return False
    if in_place and t.dtype.kind in "iu" and scale > np.iinfo(t.dtype).max:
        return False
    limit = np.iinfo(t.dtype).max if in_place and t.dtype.kind in "iu" else np.iinfo(np.int64).max
    return bool(np.all(exact <= limit)) and bool(np.all(np.floor(exact) == exact)) and bool(np.all(exact < 2.0**63))


def check(ds, rec: Recording, cols: dict[str, np.ndarray], ok: bool, scale: int = 1, flip_y: int | None = None):
    try:
        ev = check_events(ds.read(rec), ds.sensor_size)
    except RecordingError as exc:
        assert not ok, f"a valid recording was refused: {exc}"
        m = re.search(r"field '(\w)' holds (.+?) (?:\w+ )?at row (\d+)", str(exc))
        span = re.search(r"field '(\w)' spans (-?\d+)\.\.(-?\d+)", str(exc))
        if m:  # the value named is the one the file holds at that row
            field, shown, row = m.group(1), m.group(2), int(m.group(3))
            stored = cols[field][row]
            assert shown == repr(stored.item()), (shown, stored)
        elif span:  # the range named is the one the file holds
            field, lo, hi = span.group(1), int(span.group(2)), int(span.group(3))
            assert (lo, hi) == (int(cols[field].min()), int(cols[field].max())), str(exc)
        else:
            assert "different lengths" in str(exc) or "stored as" in str(exc), str(exc)
        return
    assert ok, "an invalid recording was accepted"
    want = {f: cols[f].astype(np.float64).astype(np.int64) for f in ("x", "y", "p", "t")}
    want["t"] = want["t"] * scale
    if flip_y is not None:
        want["y"] = flip_y - want["y"]
    order = np.argsort(want["t"], kind="stable")
    for f in ("x", "y", "p", "t"):
        assert np.array_equal(ev[f].astype(np.int64), want[f][order]), f


@pytest.fixture
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(cols=columns((128, 128), 2_000_000))
def test_dvs128_gesture_files(folder, cols):
    ds = snnctl.create("dataset", "dvsgesture")
    path = folder / "ibmGestureTrain" / "user01_led" / "3.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.result_type(*cols.values())  # one [N, 4] array, as tonic's files are
    with np.errstate(all="ignore"):
        arr = np.stack([cols[f].astype(dtype) for f in ("x", "y", "p", "t")], axis=1)
    np.save(path, arr)
    stored = {f: arr[:, i] for i, f in enumerate(("x", "y", "p", "t"))}
    check(ds, Recording("3", 3, "train", str(path)), stored, valid(stored, (128, 128), 1000, in_place=True), 1000)


@SETTINGS
@given(cols=columns((240, 180), 200_000))
def test_asl_dvs_files(folder, cols):
    from scipy.io import savemat

    ds = snnctl.create("dataset", "asldvs")
    path = folder / "a" / "a_0001.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"ts": cols["t"][:, None], "x": cols["x"][:, None], "y": cols["y"][:, None], "pol": cols["p"][:, None]})
    check(ds, Recording("a/a_0001.mat", 0, None, str(path)), cols, valid(cols, (240, 180)), flip_y=179)


@SETTINGS
@given(cols=columns((128, 128), 1_000_000))
def test_dvs_lip_files(folder, cols):
    ds = snnctl.create("dataset", "dvslip")
    path = folder / "train" / "accused" / "0.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros(len(cols["x"]), [(f, cols[f].dtype) for f in ("x", "y", "t", "p")])
    for f in ("x", "y", "t", "p"):
        arr[f] = cols[f]
    np.save(path, arr)
    check(ds, Recording("train/accused/0.npy", 0, "train", str(path)), cols, valid(cols, (128, 128)))


@SETTINGS
@given(raw=st.binary(min_size=5, max_size=200).map(lambda b: b[: len(b) - len(b) % 5]))
def test_n_mnist_files(folder, raw):
    """Any bytes in the ATIS format: the bit fields are decoded here independently of tonic."""
    ds = snnctl.create("dataset", "nmnist")
    path = folder / "Train" / "3" / "00001.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    b = np.frombuffer(raw, np.uint8).reshape(-1, 5).astype(np.int64)
    t = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    # the format: a record with y = 240 is no event but a timestamp overflow, adding 2**13 to every later time
    marker = b[:, 1] == 240
    t = t + 2**13 * np.cumsum(marker)
    keep = ~marker
    cols = {"x": b[keep, 0], "y": b[keep, 1], "p": b[keep, 2] >> 7, "t": t[keep]}
    if not keep.any():
        with pytest.raises(RecordingError, match="holds no events"):
            check_events(ds.read(Recording("Train/3/00001.bin", 3, "train", str(path))), ds.sensor_size)
        return
    check(ds, Recording("Train/3/00001.bin", 3, "train", str(path)), cols, valid(cols, (34, 34)))


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=st.integers(1, 30), data=st.data())
def test_cifar10_dvs_files(folder, n, data):
    """AEDAT 4 files (written by faery) hold 15-bit coordinates (the format's int16): any of them, and any times."""
    import faery

    ds = snnctl.create("dataset", "cifar10dvs")
    arr = np.zeros(n, faery.EVENTS_DTYPE)
    arr["x"] = data.draw(st.lists(st.sampled_from([0, 5, 127, 128, 300, 32766]), min_size=n, max_size=n))
    arr["y"] = data.draw(st.lists(st.sampled_from([0, 64, 127, 128, 20000]), min_size=n, max_size=n))
    arr["p"] = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    arr["t"] = np.sort(data.draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n)))
    path = folder / "cat" / "cifar10_cat_0.aedat4"
    path.parent.mkdir(parents=True, exist_ok=True)
    faery.events_stream_from_array(arr, dimensions=(32767, 32767)).to_file(str(path))
    cols = {"x": arr["x"].astype(np.int64), "y": arr["y"].astype(np.int64), "p": arr["p"].astype(np.int64),
            "t": arr["t"].astype(np.int64)}
    check(ds, Recording("cat/cifar10_cat_0.aedat4", 3, None, str(path)), cols, valid(cols, (128, 128)))


def test_the_cases_the_issue_names(tmp_path):
    """x = 65541, x = 3.5, p = 2, overflowing and NaN timestamps, a string array: each refused with its value."""
    ds = snnctl.create("dataset", "dvsgesture")
    path = tmp_path / "1.npy"
    base = np.array([[1, 2, 0, 10], [3, 4, 1, 20]], dtype=np.int64)
    cases = {
        "x = 65541": (base.copy(), (0, 0, 65541), "field 'x' holds 65541 at row 0, outside the sensor's 0..127"),
        "x = 3.5": (base.astype(np.float64), (1, 0, 3.5), "field 'x' holds 3.5 at row 1, not a whole number"),
        "p = 2": (base.copy(), (0, 2, 2), "field 'p' holds 2 at row 0, not a polarity"),
        "t overflows": (base.copy(), (1, 3, 2**62), "which overflows the file's int64 once multiplied by 1000"),
        "t is NaN": (base.astype(np.float64), (0, 3, float("nan")), "field 't' holds nan at row 0"),
        "int16 t": (base.astype(np.int16), (0, 3, 40), "field 't' holds 40 ms at row 0, which overflows the file's int16"),
    }
    for label, (arr, (row, col, value), message) in cases.items():
        arr[row, col] = value
        np.save(path, arr)
        with pytest.raises(RecordingError) as err:
            ds.read(Recording("1", 1, "train", str(path)))
        assert message in str(err.value), (label, str(err.value))
    np.save(path, np.array([["1", "2", "0", "10"]]))
    with pytest.raises(RecordingError, match="holds text"):
        ds.read(Recording("1", 1, "train", str(path)))
