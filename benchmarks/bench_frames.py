"""Events to frames: snnctl's vectorised integration against tonic's ToFrame, in one run.

    python benchmarks/bench_frames.py [--events 1000000] [--frames 16] [--repeats 7]

Random events on a 128x128x2 sensor over 6 s, sorted by time, in tonic's structured layout. Both
modes are timed (median of the repeats, after one warm-up call) and the outputs compared for equality.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from _measure import timings


def median_ms(fn, repeats: int) -> float:
    return 1e3 * statistics.median(timings(fn, repeats))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()

    import tonic

    from snnctl.data.frames import to_frames

    rng = np.random.default_rng(0)
    n = args.events
    ev = np.zeros(n, np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")]))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    ev["t"] = np.sort(rng.integers(0, 6_000_000, n))
    sensor = (128, 128, 2)
    print(f"{n:,} events, 128x128x2, T={args.frames}, numpy {np.__version__}, tonic {tonic.__version__}, "
          f"median of {args.repeats}")
    print(f"{'split_by':<8} {'tonic ToFrame ms':>17} {'snnctl ms':>10} {'ratio':>7}  identical")
    for split_by, arg in (("number", "n_event_bins"), ("time", "n_time_bins")):
        to_frame = tonic.transforms.ToFrame(sensor_size=sensor, **{arg: args.frames})
        theirs = median_ms(lambda: to_frame(ev), args.repeats)
        ours = median_ms(lambda: to_frames(ev, sensor, args.frames, split_by), args.repeats)
        same = np.array_equal(to_frame(ev), to_frames(ev, sensor, args.frames, split_by))
        print(f"{split_by:<8} {theirs:>17.1f} {ours:>10.1f} {theirs / ours:>6.1f}x  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
