"""A deterministic DVS event-camera simulator that generates a small gesture-like dataset.

:func:`simulate` renders a grayscale scene at ``substeps + 1`` time points, feeds its log intensity
to an array of DVS pixels and adds sensor noise:

* **Scene** (:func:`render`). One textured object moves over a static, faintly patterned background
  during a random time window of the recording. The class decides the motion; everything else is a
  random nuisance drawn from the seed: window start and length (hence speed), object size, bar and
  ring width, contrast sign and magnitude, background level and pattern, texture, offsets and start
  orientation. Edges are ramps one pixel wide, the box-filter coverage of a pixel by the edge, so
  objects move smoothly at sub-pixel speeds without rendering at a higher resolution.
* **Pixels** (:func:`dvs_events`). Each pixel remembers a reference log intensity. When the log
  intensity ``L = log(I + eps)`` is at least one contrast threshold ``C`` away from it, the pixel emits
  ``floor(|L - ref| / C)`` events of that sign and moves the reference by as many thresholds. The
  timestamp of each event is where the linearly interpolated ``L`` crosses its level within the
  sub-step. ``C = threshold * (1 + N(0, threshold_sigma))`` is drawn once per pixel and sample
  (:func:`contrast_thresholds`), the fixed-pattern mismatch of a real sensor.
* **Noise** (:func:`background_activity`). Background-activity events, a Poisson process of
  ``noise_rate_hz`` per pixel with random polarity and uniform times.

The classes (:data:`CLASSES`) form four pairs (:data:`PAIRS`) whose members differ only in the
direction of motion or the sense of rotation: right/left, up/down, clockwise/counterclockwise and
expand/contract. Summed over the whole recording, the members of a pair give the same per-pixel ON and
OFF counts, so a model that sees only time-collapsed counts cannot tell them apart; the order of the
events is the only difference. The scenes are built for that:

* a translating object enters from outside the field of view and leaves it completely, so every pixel
  it crosses sees background, then the whole object, then background again. Its texture has a random
  phase, so an object and its mirror image are equally likely, and reversing the motion only reverses
  the order in which a pixel reads the object's profile: same total rise, same total fall;
* the rotating bar is symmetric under a half-turn and turns by exactly half a turn, so it ends where
  it started and each of its two arms sweeps every direction once, whichever the sense;
* the ring grows from a radius where it is not yet visible to one where it has left the field of
  view, or shrinks over the same range, so each pixel sees it pass exactly once either way;
* every nuisance has the same distribution for both members of a pair, and those distributions are
  symmetric under the mirror that maps one member onto the other.

A classifier that sees a few consecutive time bins (where the object is early and late) separates the
pairs easily. The start orientation of the bar is therefore drawn from a limited range around the
vertical, not the full circle: over a uniform start orientation the average event frames of the two
senses of rotation would be the same at every time, and no linear read-out could tell them apart.

Output is bit-identical for a given (label, seed, settings): every random choice comes from
``np.random.SeedSequence([seed, label])``, with independent streams for the scene, the sensor
mismatch and the noise, so changing the noise rate leaves the scene and its events unchanged. The
log intensities and thresholds are snapped to a grid of ``2**-24``; from there on the pixel model is
exact arithmetic, so an ulp of difference between platforms' ``log``/``cos``/``sqrt`` can change an
event only in the rare case where it moves a value across a grid boundary.

Events use tonic's DVSGesture layout (:data:`EVENT_DTYPE`): ``x``, ``y``, polarity ``p`` (True = ON,
brightness up) and ``t`` in microseconds, sorted by time.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "VERSION",
    "EVENT_DTYPE",
    "CLASSES",
    "PAIRS",
    "simulate",
    "render",
    "log_intensity",
    "contrast_thresholds",
    "dvs_events",
    "background_activity",
]

#: Bumped when the events generated for a given (label, seed, settings) change; frame caches key on it.
VERSION = 1

#: tonic's DVSGesture event layout; ``t`` in microseconds, ``p`` True for ON events.
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")])

#: Class names; the index is the label.
CLASSES: list[str] = ["right", "left", "up", "down", "clockwise", "counterclockwise", "expand", "contract"]

#: Label pairs that differ only in the direction of motion or the sense of rotation.
PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7))

#: Added to the intensity before the log, like the dark current that bounds a photoreceptor's response.
LOG_EPS = 1e-3

# Grid that log intensities and thresholds are snapped to (see the module docstring).
_GRID = 2.0**-24

# Half-width of the range of start orientations of the rotating bar, around the vertical.
_MAX_START_ANGLE = np.pi / 8


def simulate(
    label: int,
    seed: int,
    size: tuple[int, int] = (32, 32),
    duration_us: int = 1_000_000,
    substeps: int = 100,
    threshold: float = 0.25,
    threshold_sigma: float = 0.03,
    noise_rate_hz: float = 0.5,
    refractory_us: int = 0,
) -> np.ndarray:
    """Events of one sample of class ``label``, all randomness drawn from ``seed``.

    ``size`` is ``(H, W)``; the scene is rendered at ``substeps + 1`` equally spaced times from 0 to
    ``duration_us`` and events are interpolated within each of the ``substeps`` intervals. ``threshold``
    and ``threshold_sigma`` set the contrast thresholds (:func:`contrast_thresholds`), ``noise_rate_hz``
    the background activity per pixel, ``refractory_us`` the pixels' refractory period
    (:func:`dvs_events`; background-activity events are not subject to it).

    Returns a 1-D array of :data:`EVENT_DTYPE`, stably sorted by ``t``, with ``0 <= x < W``,
    ``0 <= y < H`` and ``0 <= t < duration_us``.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"label must be in [0, {len(CLASSES)}), got {label}")
    if duration_us < 1 or substeps < 1:
        raise ValueError(f"duration_us and substeps must be positive, got {duration_us} and {substeps}")
    scene_rng, sensor_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, label]).spawn(3)
    )
    times = np.linspace(0.0, float(duration_us), substeps + 1)
    log_frames = log_intensity(render(label, scene_rng, size, substeps))
    thresholds = contrast_thresholds(sensor_rng, size, threshold, threshold_sigma)
    events = dvs_events(log_frames, times, thresholds, refractory_us)
    # A crossing exactly at the last rendered time would fall on duration_us; the recording is
    # [0, duration_us). Clipping keeps the order since the events are sorted.
    np.minimum(events["t"], duration_us - 1, out=events["t"])
    events = np.concatenate([events, background_activity(noise_rng, size, duration_us, noise_rate_hz)])
    return events[np.argsort(events["t"], kind="stable")]


def render(
    label: int, rng: np.random.Generator, size: tuple[int, int] = (32, 32), substeps: int = 100
) -> np.ndarray:
    """Intensities ``[substeps + 1, H, W]`` (positive floats) of one scene of class ``label``.

    Frame k shows the scene at the normalised time ``k / substeps``. The motion runs from 0 to 1 over
    a random window of 60 % to 95 % of the recording; before and after it the scene is still.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"label must be in [0, {len(CLASSES)}), got {label}")
    h, w = size
    ys = (np.arange(h) + 0.5 - h / 2)[:, None]
    xs = (np.arange(w) + 0.5 - w / 2)[None, :]
    length = rng.uniform(0.6, 0.95)
    start = rng.uniform(0.0, 1.0 - length)
    progress = np.clip((np.linspace(0.0, 1.0, substeps + 1) - start) / length, 0.0, 1.0)[:, None, None]

    level = rng.uniform(0.15, 0.5)
    # A faint static pattern: it makes the contrast of the object vary over the view, no events.
    fx, fy = rng.uniform(-0.15, 0.15, size=2)
    pattern = np.cos(2 * np.pi * (fx * xs + fy * ys) + rng.uniform(0, 2 * np.pi))
    background = level * (1.0 + rng.uniform(0.0, 0.15) * pattern)
    # Object brighter or darker than the background, by a log contrast of 0.6 to 1.4.
    contrast = rng.uniform(0.6, 1.4) * rng.choice([-1.0, 1.0])
    texture_amplitude = rng.uniform(0.0, 0.35)
    texture_period = rng.uniform(3.0, 8.0)
    texture_phase = rng.uniform(0.0, 2 * np.pi)

    kind = CLASSES[label]
    if kind in ("right", "left", "up", "down"):
        coverage, texture_coord = _translation(kind, rng, xs, ys, progress)
    elif kind in ("clockwise", "counterclockwise"):
        coverage, texture_coord = _rotation(kind, rng, xs, ys, progress)
    else:
        coverage, texture_coord = _ring(kind, rng, xs, ys, progress)

    texture = 1.0 + texture_amplitude * np.cos(2 * np.pi * texture_coord / texture_period + texture_phase)
    obj = level * np.exp(contrast) * texture
    return background + coverage * (obj - background)


def _ramp(z: np.ndarray) -> np.ndarray:
    """Coverage of a unit pixel by a half-plane whose edge lies ``z`` pixels beyond the pixel centre."""
    return np.clip(z + 0.5, 0.0, 1.0)


def _translation(
    kind: str, rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray, progress: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage of a rectangle crossing the view, and its coordinate along the motion."""
    h, w = ys.shape[0], xs.shape[1]
    half_along = rng.uniform(2.5, 6.0)
    half_across = rng.uniform(0.2, 0.45) * (h if kind in ("right", "left") else w)
    offset_across = rng.uniform(-0.2, 0.2) * (h if kind in ("right", "left") else w)
    # Motion along +q; "left" and "up" are the mirror images of "right" and "down" (y points down).
    along, across, extent = {
        "right": (xs, ys, w),
        "left": (-xs, ys, w),
        "down": (ys, xs, h),
        "up": (-ys, xs, h),
    }[kind]
    # From fully outside one side (edge ramp included) to fully outside the other.
    reach = extent / 2 + half_along + 1.0
    position = -reach + 2 * reach * progress
    relative = along - position
    coverage = _ramp(half_along - np.abs(relative)) * _ramp(half_across - np.abs(across - offset_across))
    return coverage, relative


def _rotation(
    kind: str, rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray, progress: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage of a bar turning half a turn about a point near the centre, and the distance along it."""
    h, w = ys.shape[0], xs.shape[1]
    half_width = rng.uniform(1.2, 3.0)
    half_length = rng.uniform(0.45, 0.75) * max(h, w)
    cx, cy = rng.uniform(-0.1, 0.1, size=2) * np.array([w, h])
    start = np.pi / 2 + rng.uniform(-_MAX_START_ANGLE, _MAX_START_ANGLE)
    # Angles grow clockwise on screen because y points down.
    angle = start + (np.pi if kind == "clockwise" else -np.pi) * progress
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = xs - cx, ys - cy
    along = np.abs(cos * dx + sin * dy)
    across = np.abs(cos * dy - sin * dx)
    return _ramp(half_width - across) * _ramp(half_length - along), along


def _ring(
    kind: str, rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray, progress: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage of a ring sweeping the whole view outward or inward, and the distance across it."""
    h, w = ys.shape[0], xs.shape[1]
    half_width = rng.uniform(1.0, 2.5)
    cx, cy = rng.uniform(-0.1, 0.1, size=2) * np.array([w, h])
    radius_from_centre = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
    # Invisible at both ends: centred on a negative radius, or beyond the farthest pixel.
    inner = -(half_width + 1.0)
    outer = float(radius_from_centre.max()) + half_width + 1.0
    fraction = progress if kind == "expand" else 1.0 - progress
    relative = radius_from_centre - (inner + (outer - inner) * fraction)
    return _ramp(half_width - np.abs(relative)), relative


def log_intensity(intensity: np.ndarray, eps: float = LOG_EPS) -> np.ndarray:
    """``log(intensity + eps)``, snapped to the grid that makes the pixel model exact arithmetic."""
    return _snap(np.log(np.asarray(intensity, dtype=np.float64) + eps))


def contrast_thresholds(
    rng: np.random.Generator, size: tuple[int, int], threshold: float = 0.25, sigma: float = 0.03
) -> np.ndarray:
    """Per-pixel contrast thresholds ``[H, W]``: ``threshold * (1 + N(0, sigma))``.

    Values are kept at or above a quarter of ``threshold``, which only matters for a large ``sigma``
    (a threshold near zero would flood the pixel with events).
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    c = threshold * (1.0 + sigma * rng.standard_normal(size))
    return _snap(np.maximum(c, threshold / 4))


def dvs_events(
    log_frames: np.ndarray, times_us: np.ndarray, thresholds: np.ndarray | float, refractory_us: int = 0
) -> np.ndarray:
    """Events of DVS pixels watching log intensities ``[N, H, W]`` taken at ``times_us`` (``[N]``).

    Each pixel starts with its reference at frame 0. At frame k, a pixel with
    ``|L[k] - ref| >= C`` emits ``n = floor(|L[k] - ref| / C)`` events, ON if ``L[k] > ref``, and moves
    ``ref`` by ``n * C`` towards ``L[k]``; the rest of the change is kept for later frames. Event j
    (1-based) lies at the level ``ref + j * C`` (towards ``L[k]``), and its time is where the straight
    line from ``(times_us[k-1], L[k-1])`` to ``(times_us[k], L[k])`` reaches that level, floored to a
    microsecond. ``thresholds`` is ``[H, W]`` or a scalar.

    With ``refractory_us > 0`` an event that follows the previous kept event of its pixel by less than
    ``refractory_us`` is dropped; the reference still moves, so the dropped change is not reported
    later.

    Returns :data:`EVENT_DTYPE` events, stably sorted by ``t`` (ties in frame, pixel, level order).
    """
    log_frames = np.asarray(log_frames, dtype=np.float64)
    if log_frames.ndim != 3:
        raise ValueError(f"log_frames must be [N, H, W], got shape {log_frames.shape}")
    n_frames, h, w = log_frames.shape
    times = np.asarray(times_us, dtype=np.float64)
    if times.shape != (n_frames,):
        raise ValueError(f"times_us must have one entry per frame ({n_frames}), got shape {times.shape}")
    c = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (h, w)).ravel()
    if np.any(c <= 0):
        raise ValueError("thresholds must be positive")
    flat = log_frames.reshape(n_frames, h * w)

    ref = flat[0].copy()
    steps, pixels, counts, refs = [], [], [], []
    for k in range(1, n_frames):
        # Signed number of whole thresholds between the reference and the new level.
        q = np.trunc((flat[k] - ref) / c)
        fired = np.flatnonzero(q)
        if fired.size:
            steps.append(np.full(fired.size, k))
            pixels.append(fired)
            counts.append(q[fired])
            refs.append(ref[fired])
            ref[fired] += q[fired] * c[fired]
    if not steps:
        return np.empty(0, dtype=EVENT_DTYPE)

    step, pixel, q, ref0 = (np.concatenate(a) for a in (steps, pixels, counts, refs))
    n = np.abs(q).astype(np.int64)
    owner = np.repeat(np.arange(n.size), n)
    j = np.arange(owner.size) - np.repeat(np.cumsum(n) - n, n) + 1
    step, pixel, sign = step[owner], pixel[owner], np.sign(q)[owner]
    level = ref0[owner] + sign * j * c[pixel]
    before, after = flat[step - 1, pixel], flat[step, pixel]
    # The reference ends each frame within C of that frame's level, so a pixel fires only on a change
    # (after != before); the guard covers rounding on inputs that are not on the exact grid.
    span = after - before
    fraction = np.clip(np.divide(level - before, span, out=np.ones_like(span), where=span != 0), 0.0, 1.0)
    t = np.floor(times[step - 1] + fraction * (times[step] - times[step - 1])).astype(np.int64)

    if refractory_us > 0:
        keep = _refractory_mask(pixel, t, refractory_us)
        pixel, sign, t = pixel[keep], sign[keep], t[keep]
    events = np.empty(t.size, dtype=EVENT_DTYPE)
    events["x"] = pixel % w
    events["y"] = pixel // w
    events["p"] = sign > 0
    events["t"] = t
    return events[np.argsort(t, kind="stable")]


def _refractory_mask(pixel: np.ndarray, t: np.ndarray, refractory_us: int) -> np.ndarray:
    """Events that come at least ``refractory_us`` after the previous kept event of their pixel.

    Whether an event is kept depends on the last kept one, so the pass is sequential per pixel; it
    runs over the rank of the events within their pixel, vectorised across pixels.
    """
    order = np.lexsort((t, pixel))
    p_sorted, t_sorted = pixel[order], t[order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    lengths = np.diff(np.r_[starts, p_sorted.size])
    keep_sorted = np.zeros(p_sorted.size, dtype=bool)
    last = t_sorted[starts] - refractory_us  # the first event of a pixel is always kept
    for rank in range(int(lengths.max())):
        group = np.flatnonzero(lengths > rank)
        idx = starts[group] + rank
        ok = t_sorted[idx] - last[group] >= refractory_us
        keep_sorted[idx[ok]] = True
        last[group[ok]] = t_sorted[idx[ok]]
    keep = np.empty_like(keep_sorted)
    keep[order] = keep_sorted
    return keep


def background_activity(
    rng: np.random.Generator, size: tuple[int, int], duration_us: int, rate_hz: float
) -> np.ndarray:
    """Background-activity noise: a Poisson process of ``rate_hz`` per pixel, random polarity.

    Returns unsorted :data:`EVENT_DTYPE` events with uniform pixels and times in ``[0, duration_us)``.
    """
    h, w = size
    n = int(rng.poisson(rate_hz * h * w * duration_us * 1e-6)) if rate_hz > 0 else 0
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["x"] = rng.integers(0, w, n)
    events["y"] = rng.integers(0, h, n)
    events["p"] = rng.integers(0, 2, n).astype(bool)
    events["t"] = rng.integers(0, duration_us, n)
    return events


def _snap(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to multiples of ``2**-24``; sums of such values (below 2**28) are exact."""
    return np.round(values / _GRID) * _GRID
