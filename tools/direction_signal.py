#!/usr/bin/env python3
"""How much does the direction word tell a denoiser at the highest noise levels?

At t = 1 the best estimate of the clean clip is its mean given the prompt, and the loss left
over is the variance around that mean. This estimates, for moving-shapes clips of one circle,
how much of the variance of "is pixel p of frame k inside the object" the direction word
removes: Var[occupancy] - E_direction Var[occupancy | direction], as a share of
Var[occupancy]. The placement follows data/moving_shapes.cpp (place_axis: start positions
keep the whole straight path inside the frame); sizes and speeds are the defaults at 16x32x32.
The colour, the shape and the background are left out: they do not depend on the direction.

    python3 tools/direction_signal.py
"""
import argparse

import numpy as np

DIRECTIONS = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1)]


def occupancy_by_direction(frames, size, clips, rng):
    """[directions, frames, size, size]: the chance that each pixel is inside the object."""
    ys, xs = np.mgrid[0:size, 0:size]
    out = np.zeros((len(DIRECTIONS), frames, size, size))
    for d, step in enumerate(DIRECTIONS):
        unit = np.array(step, dtype=np.float64) / np.hypot(*step)
        for _ in range(clips):
            radius = rng.uniform(0.28, 0.36) * size / 2          # size_min/size_max of the defaults
            velocity = unit * rng.uniform(0.018, 0.03) * size     # speed_min/speed_max
            start = []
            for axis in range(2):
                lo, hi = radius - 0.5, size - 0.5 - radius
                travel = min(abs(velocity[axis]) * (frames - 1), hi - lo)
                a = lo if velocity[axis] >= 0 else lo + travel
                b = hi - travel if velocity[axis] > 0 else hi
                start.append(a + rng.uniform() * (b - a))
            for k in range(frames):
                cx, cy = start[0] + velocity[0] * k, start[1] + velocity[1] * k
                out[d, k] += (xs - cx) ** 2 + (ys - cy) ** 2 <= radius ** 2
    return out / clips


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--clips", type=int, default=600, help="per direction")
    args = parser.parse_args()
    p = occupancy_by_direction(args.frames, args.size, args.clips, np.random.default_rng(0))
    marginal = p.mean(axis=0)                                  # the prompt without its direction
    total = marginal * (1 - marginal)                          # Var[occupancy], per frame and pixel
    explained = ((p - marginal) ** 2).mean(axis=0)             # Var over directions of the mean
    share = explained.sum(axis=(1, 2)) / total.sum(axis=(1, 2))
    print(f"share of the object's variance that the direction word removes at t = 1: "
          f"{explained.sum() / total.sum():.1%}")
    print("per frame: " + " ".join(f"{s:.0%}" for s in share))


if __name__ == "__main__":
    main()
