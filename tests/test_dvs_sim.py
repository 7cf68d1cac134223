"""DVS simulator: determinism, event format, pixel physics, and that only event timing tells pairs apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnctl_plugins.dvs_sim import (
    CLASSES,
    EVENT_DTYPE,
    PAIRS,
    background_activity,
    contrast_thresholds,
    dvs_events,
    log_intensity,
    render,
    simulate,
)

SIZE = (32, 32)
T = 8


# -- determinism and format -------------------------------------------------------------------------
@pytest.mark.parametrize("label", range(len(CLASSES)))
def test_same_seed_same_events_other_seed_other_events(label):
    a = simulate(label, seed=11)
    b = simulate(label, seed=11)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, simulate(label, seed=12))


def test_noise_stream_is_independent_of_the_scene():
    quiet = simulate(0, seed=5, noise_rate_hz=0.0)
    noisy = simulate(0, seed=5, noise_rate_hz=20.0)
    assert len(noisy) > len(quiet)
    # Every event of the noiseless recording is still there, in the same order.
    as_tuples = set(noisy.tolist())
    assert all(e in as_tuples for e in quiet.tolist())


@pytest.mark.parametrize("label", range(len(CLASSES)))
def test_format(label):
    duration = 400_000
    events = simulate(label, seed=3, duration_us=duration)
    assert events.dtype == EVENT_DTYPE and events.ndim == 1
    assert np.all(np.diff(events["t"]) >= 0)
    assert events["t"].min() >= 0 and events["t"].max() < duration
    assert events["x"].min() >= 0 and events["x"].max() < SIZE[1]
    assert events["y"].min() >= 0 and events["y"].max() < SIZE[0]
    assert events["p"].any() and not events["p"].all()
    assert 1_000 < len(events) < 50_000


def test_non_square_sensor():
    events = simulate(6, seed=0, size=(24, 40))
    assert events["x"].max() < 40 and events["y"].max() < 24
    assert events["x"].max() >= 24  # the ring reaches the columns beyond the height


def test_render_is_positive_and_moves():
    frames = render(0, np.random.default_rng(0), SIZE, substeps=50)
    assert frames.shape == (51, *SIZE) and np.all(frames > 0)
    # The translating object starts and ends outside the view: first and last frames are background.
    assert np.array_equal(frames[0], frames[-1])
    assert not np.array_equal(frames[0], frames[25])


def test_background_activity_rate():
    noise = background_activity(np.random.default_rng(0), SIZE, 2_000_000, 5.0)
    expected = 5.0 * SIZE[0] * SIZE[1] * 2
    assert abs(len(noise) - expected) < 5 * np.sqrt(expected)
    assert 0.45 < noise["p"].mean() < 0.55
    assert noise["t"].min() >= 0 and noise["t"].max() < 2_000_000


def test_threshold_mismatch():
    c = contrast_thresholds(np.random.default_rng(0), (64, 64), 0.25, 0.03)
    assert abs(c.mean() - 0.25) < 0.002 and abs(c.std() - 0.25 * 0.03) < 0.001
    assert np.all(contrast_thresholds(np.random.default_rng(0), SIZE, 0.25, 0.0) == 0.25)


# -- pixel physics ------------------------------------------------------------------------------------
def test_static_scene_gives_no_events():
    rng = np.random.default_rng(1)
    frames = np.broadcast_to(rng.uniform(0.1, 1.0, size=SIZE), (101, *SIZE))
    thresholds = contrast_thresholds(rng, SIZE, 0.25, 0.03)
    assert len(dvs_events(log_intensity(frames), np.linspace(0, 1e6, 101), thresholds)) == 0


@pytest.mark.parametrize(
    "step, times",
    [
        (0.6, [416, 833]),  # floor(0.6 / 0.25) = 2 events, at 1000 * j * 0.25 / 0.6
        (-0.6, [416, 833]),
        (-1.3, [192, 384, 576, 769, 961]),
        (np.log(3.0), [227, 455, 682, 910]),  # log 3 = 1.0986: 4 events
        (0.2, []),
    ],
)
def test_brightness_step_gives_floor_of_step_over_threshold(step, times):
    log_frames = np.zeros((2, 3, 4))
    log_frames[1] = step
    events = dvs_events(log_frames, np.array([0.0, 1000.0]), 0.25)
    counts = np.zeros((3, 4), dtype=int)
    np.add.at(counts, (events["y"], events["x"]), 1)
    assert np.all(counts == len(times))
    assert np.all(events["p"] == (step > 0))
    # Linear interpolation: event j of a pixel where the ramp reaches j thresholds.
    assert events["t"][(events["x"] == 2) & (events["y"] == 1)].tolist() == times


def test_step_with_thresholds_without_mismatch():
    # simulate's own path: per-pixel thresholds without spread are exactly `threshold`.
    rng = np.random.default_rng(4)
    thresholds = contrast_thresholds(rng, SIZE, 0.25, 0.0)
    log_frames = np.zeros((3, *SIZE))
    log_frames[1:] = -1.1  # a step down, then constant
    events = dvs_events(log_frames, np.array([0.0, 500.0, 1000.0]), thresholds)
    assert len(events) == 4 * SIZE[0] * SIZE[1] and not events["p"].any()
    assert events["t"].max() <= 500


def test_reference_keeps_the_remainder():
    # Two rises of 3/16 with C = 1/4: nothing after the first, one event 1/3 into the second.
    log_frames = np.array([0.0, 0.1875, 0.375]).reshape(3, 1, 1)
    events = dvs_events(log_frames, np.array([0.0, 1000.0, 2000.0]), 0.25)
    assert events.tolist() == [(0, 0, True, 1333)]
    # Then down to -1/8: the reference sits at 1/4, so one OFF event at level 0, 3/4 into the step.
    log_frames = np.array([0.0, 0.1875, 0.375, -0.125]).reshape(4, 1, 1)
    events = dvs_events(log_frames, np.arange(4) * 1000.0, 0.25)
    assert events.tolist() == [(0, 0, True, 1333), (0, 0, False, 2750)]


def test_refractory_period_drops_close_events():
    log_frames = np.array([0.0, 1.0]).reshape(2, 1, 1)  # four ON events at 250, 500, 750, 1000
    times = np.array([0.0, 1000.0])
    assert dvs_events(log_frames, times, 0.25)["t"].tolist() == [250, 500, 750, 1000]
    assert dvs_events(log_frames, times, 0.25, refractory_us=300)["t"].tolist() == [250, 750]
    assert dvs_events(log_frames, times, 0.25, refractory_us=250)["t"].tolist() == [250, 500, 750, 1000]


def test_refractory_period_in_simulate():
    free = simulate(4, seed=2, noise_rate_hz=0.0)
    dead = simulate(4, seed=2, noise_rate_hz=0.0, refractory_us=20_000)
    assert 0 < len(dead) < len(free)
    pixel = dead["y"].astype(np.int64) * SIZE[1] + dead["x"]
    order = np.lexsort((dead["t"], pixel))
    same_pixel = pixel[order][1:] == pixel[order][:-1]
    assert np.all(np.diff(dead["t"][order])[same_pixel] >= 20_000)


# -- the dataset: pairs differ only in time -----------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_frames(tmp_path_factory) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The built-in dataset as training sees it: preprocessed into T frames and read from the cache."""
    import snnctl
    from snnctl.data.cache import FrameCache, FrameSpec
    from snnctl.data.preprocess import preprocess

    dataset = snnctl.create("dataset", "synthetic-gestures", train_per_class=40, test_per_class=20)
    report = preprocess(dataset, FrameSpec(T), cache_dir=tmp_path_factory.mktemp("cache"), workers=2)
    cache = FrameCache(report.path)
    out = {}
    for split in ("train", "test"):
        samples = cache.dataset(split)
        x = np.stack([samples[i][0].numpy() for i in range(len(samples))])
        out[split] = (x, samples.labels())
    return out


def linear_classifier(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, steps: int = 200
) -> np.ndarray:
    """Test logits of multinomial logistic regression on standardized features (full batch, Adam, L2)."""
    torch.manual_seed(0)
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0
    xs = torch.from_numpy((x_train - mean) / std)
    ys = torch.from_numpy(y_train)
    weight = torch.zeros(xs.shape[1], len(CLASSES), requires_grad=True)
    bias = torch.zeros(len(CLASSES), requires_grad=True)
    opt = torch.optim.Adam([weight, bias], lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ weight + bias, ys) + 1e-3 * weight.square().sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (torch.from_numpy((x_test - mean) / std) @ weight + bias).numpy()


def test_time_collapsed_counts_cannot_tell_pairs_apart(synthetic_frames):
    x_train, y_train = synthetic_frames["train"]
    x_test, y_test = synthetic_frames["test"]
    assert x_train.shape == (320, T, 2, *SIZE) and x_test.shape == (160, T, 2, *SIZE)

    frames = linear_classifier(x_train.reshape(len(x_train), -1), y_train, x_test.reshape(len(x_test), -1))
    collapsed = linear_classifier(
        x_train.sum(1).reshape(len(x_train), -1), y_train, x_test.sum(1).reshape(len(x_test), -1)
    )
    acc_frames = float((frames.argmax(1) == y_test).mean())
    acc_collapsed = float((collapsed.argmax(1) == y_test).mean())
    pair_acc = {}
    for a, b in PAIRS:
        in_pair = (y_test == a) | (y_test == b)
        guess = np.where(collapsed[in_pair, a] > collapsed[in_pair, b], a, b)
        pair_acc[f"{CLASSES[a]}/{CLASSES[b]}"] = float((guess == y_test[in_pair]).mean())
    print(f"\naccuracy, {T} event frames: {acc_frames:.3f}; time-collapsed: {acc_collapsed:.3f}")
    print("time-collapsed, within pairs:", ", ".join(f"{k} {v:.2f}" for k, v in pair_acc.items()))

    assert acc_frames >= 0.85
    assert acc_collapsed <= acc_frames - 0.25
    assert np.mean(list(pair_acc.values())) <= 0.65
    assert max(pair_acc.values()) <= 0.8
