"""Event streams to frames: validation and vectorised integration.

Events are structured numpy arrays with fields ``x``, ``y``, ``p`` and ``t`` (microseconds), the
layout tonic's readers return. :func:`to_frames` integrates them into ``[T, P, H, W]`` event counts
with tonic's exact binning rules, in one ``np.bincount`` over a flattened index instead of one
``np.add.at`` per frame:

``split_by="number"`` (tonic's ``n_event_bins``)
    each frame holds ``n // T`` consecutive events; the last ``n % T`` events are dropped.
``split_by="time"`` (tonic's ``n_time_bins``)
    frame k holds the events with ``t0 + k*w <= t < t0 + (k+1)*w``, ``w = (t[-1] - t[0]) // T``;
    events at or after ``t0 + T*w`` (always the last one) are dropped, and a recording shorter than
    T microseconds gives empty frames.

Counts are int16 like tonic's; a pixel with more than 32,767 events in one frame saturates instead
of wrapping around.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

SplitBy = Literal["number", "time"]

__all__ = ["SplitBy", "RecordingError", "check_columns", "check_events", "to_frames", "frame_shape"]


class RecordingError(ValueError):
    """A recording that cannot be turned into frames (empty, wrong fields, out-of-range values)."""


def check_events(events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
    """Validate events against a sensor ``(W, H, P)``; returns them sorted by time.

    Raises :class:`RecordingError` naming the problem: not a structured array with ``x``, ``y``,
    ``p``, ``t``; non-integer coordinates or times; no events; coordinates or polarity outside the
    sensor; negative times.
    """
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    missing = [f for f in ("x", "y", "p", "t") if f not in names]
    if missing:
        raise RecordingError(f"events lack the field(s) {', '.join(missing)} (got {list(names) or type(events).__name__})")
    if events.ndim != 1:
        events = events.reshape(-1)
    for f in ("x", "y", "t"):
        kind = events.dtype[f].kind
        if kind not in "iu":
            raise RecordingError(f"field '{f}' has dtype {events.dtype[f]}, expected integers")
    if events.dtype["p"].kind not in "iub":
        raise RecordingError(f"field 'p' has dtype {events.dtype['p']}, expected integers or booleans")
    if len(events) == 0:
        raise RecordingError("the recording holds no events")
    w, h, p = sensor_size
    for f, size in (("x", w), ("y", h), ("p", p)):
        lo, hi = int(events[f].min()), int(events[f].max())
        if lo < 0 or hi >= size:
            raise RecordingError(f"field '{f}' spans {lo}..{hi}, outside the sensor's 0..{size - 1}")
    if int(events["t"].min()) < 0:
        raise RecordingError("negative timestamps")
    t = events["t"]
    if len(t) > 1 and (np.diff(t) < 0).any():
        events = events[np.argsort(t, kind="stable")]
    return events


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _value(v: Any) -> str:
    return repr(v.item()) if isinstance(v, np.generic) else repr(v)


def check_columns(columns: dict[str, np.ndarray], sensor_size: tuple[int, int, int], time_scale: int = 1,
                  time_unit: str = "us", in_place_dtype: bool = False) -> None:
    """Validate event columns as a file holds them, before a reader casts them to its own types.

    ``columns`` maps ``x``, ``y``, ``p`` and ``t`` to arrays of the stored dtype; ``t`` is in
    ``time_unit`` and becomes microseconds when multiplied by ``time_scale``. With ``in_place_dtype``
    that multiplication happens in the stored integer type (as tonic's DVS128 Gesture reader does)
    and must fit in it. Raises :class:`RecordingError` naming the field, the row and the value as
    stored: text or objects, NaN or infinity, a fraction, a coordinate outside the sensor, a polarity
    other than 0 or 1, a negative time, a time that overflows once scaled.
    """
    w, h, n_p = sensor_size
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise RecordingError(f"the fields have different lengths: {lengths}")
    for f, v in columns.items():
        if v.dtype.kind not in "iufb":
            what = "text" if v.dtype.kind in "USa" else "Python objects" if v.dtype.kind == "O" else "non-numbers"
            raise RecordingError(f"field '{f}' holds {what} (dtype {v.dtype}), not numbers")
        if v.dtype.kind == "f":
            bad = ~np.isfinite(v)
            if bad.any():
                i = _first(bad)
                raise RecordingError(f"field '{f}' holds {_value(v[i])} at row {i}")
            scaled = v * time_scale if f == "t" else v
            frac = scaled != np.round(scaled)
            if frac.any():
                i = _first(frac)
                unit = f" {time_unit}" if f == "t" else ""
                raise RecordingError(f"field '{f}' holds {_value(v[i])}{unit} at row {i}, not a whole number"
                                     + (" of microseconds" if f == "t" else ""))
    for f, size in (("x", w), ("y", h)):
        v = columns[f]
        bad = (v < 0) | (v >= size)
        if bad.any():
            i = _first(bad)
            raise RecordingError(f"field '{f}' holds {_value(v[i])} at row {i}, outside the sensor's 0..{size - 1}")
    p = columns["p"]
    bad = (p != 0) & (p != 1) if n_p == 2 else (p < 0) | (p >= n_p)
    if bad.any():
        i = _first(bad)
        raise RecordingError(f"field 'p' holds {_value(p[i])} at row {i}, not a polarity (0 or 1)"
                             if n_p == 2 else f"field 'p' holds {_value(p[i])} at row {i}, outside 0..{n_p - 1}")
    t = columns["t"]
    bad = t < 0
    if bad.any():
        i = _first(bad)
        raise RecordingError(f"field 't' holds {_value(t[i])} {time_unit} at row {i}: a negative time")
    if in_place_dtype and t.dtype.kind in "iu" and time_scale > np.iinfo(t.dtype).max:
        raise RecordingError(f"field 't' is stored as {t.dtype}, which cannot hold it once multiplied by {time_scale} "
                             "(the reader multiplies in the file's own type)")
    if in_place_dtype and t.dtype.kind == "f" and time_scale != 1:
        with np.errstate(over="ignore", invalid="ignore"):
            lossy = (t * t.dtype.type(time_scale)).astype(np.float64) != t.astype(np.float64) * time_scale
        if lossy.any():
            i = _first(lossy)
            raise RecordingError(f"field 't' holds {_value(t[i])} {time_unit} at row {i}, which loses precision once "
                                 f"multiplied by {time_scale} in the file's {t.dtype}")
    limit = np.iinfo(t.dtype).max if (in_place_dtype and t.dtype.kind in "iu") else np.iinfo(np.int64).max
    over = t > limit // time_scale if t.dtype.kind in "iu" else t * float(time_scale) > float(limit)
    if np.any(over):
        i = _first(over)
        where = f"the file's {t.dtype}" if in_place_dtype and t.dtype.kind in "iu" else "64-bit microseconds"
        raise RecordingError(f"field 't' holds {_value(t[i])} {time_unit} at row {i}, which overflows {where} "
                             f"once multiplied by {time_scale}" if time_scale != 1 else
                             f"field 't' holds {_value(t[i])} at row {i}, beyond 64-bit microseconds")


def frame_shape(sensor_size: tuple[int, int, int], frames: int, downsample: int = 1) -> tuple[int, int, int, int]:
    """``(T, P, H, W)`` of the frames of a sensor ``(W, H, P)`` after spatial downsampling."""
    w, h, p = sensor_size
    return frames, p, -(-h // downsample), -(-w // downsample)


def to_frames(events: np.ndarray, sensor_size: tuple[int, int, int], frames: int, split_by: SplitBy = "number",
              downsample: int = 1) -> np.ndarray:
    """Integrate time-sorted events into ``[T, P, H, W]`` int16 counts (see the module docstring).

    ``downsample`` sums ``downsample x downsample`` pixel blocks (``x // f``, ``y // f``, as tonic's
    ``Downsample(spatial_factor=1/f)`` followed by ``ToFrame``).
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    shape = frame_shape(sensor_size, frames, downsample)
    _, n_p, n_h, n_w = shape
    n = len(events)
    frame_size = n_p * n_h * n_w
    if split_by == "number":
        per = n // frames
        if per == 0:
            return np.zeros(shape, np.int16)
        ev = events[: per * frames]
        index = _pixel_index(ev, n_h, n_w, downsample)
        # consecutive runs of `per` events go to consecutive frames
        index.reshape(frames, per)[...] += (np.arange(frames, dtype=np.int64) * frame_size)[:, None]
    elif split_by == "time":
        if n == 0:
            return np.zeros(shape, np.int16)
        t = events["t"]
        t0 = int(t[0])
        width = (int(t[-1]) - t0) // frames
        if width == 0:
            return np.zeros(shape, np.int16)
        # t is sorted, so each frame is one run of events between two boundaries
        bounds = np.searchsorted(t, t0 + width * np.arange(frames + 1, dtype=np.int64), side="left")
        index = _pixel_index(events[: bounds[-1]], n_h, n_w, downsample)
        for k in range(1, frames):
            index[bounds[k]: bounds[k + 1]] += k * frame_size
    else:
        raise ValueError(f"split_by must be 'number' or 'time', got {split_by!r}")
    counts = np.bincount(index, minlength=frames * frame_size)
    return np.minimum(counts, np.iinfo(np.int16).max).astype(np.int16).reshape(shape)


def _pixel_index(ev: np.ndarray, n_h: int, n_w: int, downsample: int) -> np.ndarray:
    """``(p * H + y) * W + x`` per event as a fresh int64 array, built in place (one allocation)."""
    index = ev["p"].astype(np.int64)
    index *= n_h
    if downsample > 1:
        index += ev["y"] // downsample
        index *= n_w
        index += ev["x"] // downsample
    else:
        index += ev["y"]
        index *= n_w
        index += ev["x"]
    return index
