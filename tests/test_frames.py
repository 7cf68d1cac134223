"""Frame integration equals tonic's ToFrame exactly; event validation names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from event_fixtures import EVENTS, random_events
from snnctl.data.frames import RecordingError, check_events, frame_shape, to_frames

tonic = pytest.importorskip("tonic")

MODES = [("number", "n_event_bins"), ("time", "n_time_bins")]


@pytest.mark.parametrize("split_by, tonic_arg", MODES)
@pytest.mark.parametrize("n", [1, 2, 15, 17, 100, 5000])
@pytest.mark.parametrize("frames", [1, 3, 16])
def test_frames_equal_tonic_to_frame(split_by, tonic_arg, n, frames):
    rng = np.random.default_rng(n * 31 + frames)
    for duration in (20, 1_000_000):  # includes recordings shorter than T microseconds
        ev = random_events(rng, n, 128, 128, duration)
        want = tonic.transforms.ToFrame(sensor_size=(128, 128, 2), **{tonic_arg: frames})(ev)
        got = to_frames(ev, (128, 128, 2), frames, split_by)
        assert got.dtype == want.dtype == np.int16
        assert np.array_equal(got, want)


@pytest.mark.parametrize("split_by, tonic_arg", MODES)
def test_downsampling_equals_tonic_downsample_then_to_frame(split_by, tonic_arg):
    ev = random_events(np.random.default_rng(1), 3000, 34, 34, 300_000)
    down = tonic.transforms.Downsample(spatial_factor=0.5)(ev.copy())
    want = tonic.transforms.ToFrame(sensor_size=(17, 17, 2), **{tonic_arg: 5})(down)
    assert np.array_equal(to_frames(ev, (34, 34, 2), 5, split_by, downsample=2), want)
    assert frame_shape((34, 34, 2), 5, 2) == (5, 2, 17, 17)
    assert frame_shape((240, 180, 2), 14, 4) == (14, 2, 45, 60)


def test_counts_by_hand():
    ev = np.array([(1, 0, True, 0), (1, 0, True, 5), (0, 1, False, 10), (1, 0, True, 15), (0, 0, False, 20)], EVENTS)
    # number: 5 events, T=2 -> 2 per frame, the last event dropped
    frames = to_frames(ev, (2, 2, 2), 2, "number")
    assert frames[0, 1, 0, 1] == 2 and frames[1, 0, 1, 0] == 1 and frames[1, 1, 0, 1] == 1 and frames.sum() == 4
    # time: width (20 - 0) // 2 = 10: [0, 10) and [10, 20); t = 20 is dropped
    frames = to_frames(ev, (2, 2, 2), 2, "time")
    assert frames[0].sum() == 2 and frames[1, 0, 1, 0] == 1 and frames[1, 1, 0, 1] == 1 and frames.sum() == 4


def test_counts_saturate_instead_of_wrapping():
    ev = np.zeros(40_000, EVENTS)
    ev["t"] = np.arange(40_000)
    assert to_frames(ev, (1, 1, 2), 1, "number")[0, 0, 0, 0] == 32767


def test_check_events_sorts_and_validates():
    ev = random_events(np.random.default_rng(2), 50, 8, 8, 1000)[::-1].copy()
    assert np.array_equal(check_events(ev, (8, 8, 2))["t"], np.sort(ev["t"]))
    with pytest.raises(RecordingError, match="no events"):
        check_events(ev[:0], (8, 8, 2))
    with pytest.raises(RecordingError, match="field 'x' spans"):
        check_events(ev, (4, 8, 2))
    with pytest.raises(RecordingError, match="lack the field"):
        check_events(np.zeros(3, [("x", "i2"), ("t", "i8")]), (8, 8, 2))
    with pytest.raises(RecordingError, match="expected integers"):
        check_events(np.zeros(3, [("x", "f4"), ("y", "i2"), ("p", "?"), ("t", "i8")]), (8, 8, 2))
    with pytest.raises(RecordingError, match="lack the field"):
        check_events(np.zeros((3, 4)), (8, 8, 2))
