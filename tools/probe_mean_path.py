#!/usr/bin/env python3
"""Where does a text-to-video model put the object at the start of sampling?

At t = 1 the noisy clip holds no signal, so the model's clean-clip estimate is its picture of
the prompt alone: E[x0 | prompt], a blurred object. For "a red circle moving right" the
moving-shapes clips start in the left part of the frame and end in the right part (start
positions keep the whole path inside the frame), so that blur must sit further right in the
last frame than in the first: by the mean distance travelled, 9 to 14 pixels at 16x32x32. A
model whose estimate does not move with the direction word leaves the direction to the noise.

This runs `vdm generate --steps 1 --sampler ddim` (one DDIM step from t = 1 returns the
guided x0 estimate) for every direction word and several seeds, finds the centre of the
colour's mass in the first and the last frame, and prints how far it moved along the asked
direction and across it (pixels; mean over seeds).

    python3 tools/probe_mean_path.py --checkpoint models/vdm-moving-shapes.safetensors
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

DIRECTIONS = {  # unit step in image coordinates (y grows down), as data/moving_shapes_vocab.h
    "left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1),
    "up-left": (-1, -1), "up-right": (1, -1), "down-left": (-1, 1), "down-right": (1, 1),
}
COLOUR_CHANNEL = {"red": 0, "green": 1, "blue": 2}


def centre(frame, channel):
    """Centre (x, y) of the mass of one primary colour: how much that channel exceeds the others."""
    rgb = frame.astype(np.float64)
    others = np.delete(rgb, channel, axis=2).max(axis=2)
    weight = np.clip(rgb[..., channel] - others, 0, None)
    total = weight.sum()
    if total <= 0:
        return None
    ys, xs = np.mgrid[0:weight.shape[0], 0:weight.shape[1]]
    return (weight * xs).sum() / total, (weight * ys).sum() / total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="model file or training checkpoint")
    parser.add_argument("--vdm", default="build/vdm", help="the vdm executable")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--colour", default="red", choices=sorted(COLOUR_CHANNEL))
    parser.add_argument("--shape", default="circle")
    parser.add_argument("--guidance", type=float, help="default: the model's")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not os.path.exists(args.checkpoint):
        sys.exit(f"error: no checkpoint at {args.checkpoint}")

    channel = COLOUR_CHANNEL[args.colour]
    print(f"{args.checkpoint}: x0 estimate at t = 1, {args.seeds} seeds, \"a {args.colour} {args.shape} moving ...\"")
    print(f"{'direction':>11}  {'moved along (px)':>16}  {'moved across (px)':>17}")
    along_all = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (dx, dy) in DIRECTIONS.items():
            norm = math.hypot(dx, dy)
            ux, uy = dx / norm, dy / norm
            along, across = [], []
            for seed in range(args.seeds):
                out = os.path.join(tmp, f"{name}-{seed}")
                os.mkdir(out)
                command = [args.vdm, "-q", "--threads", str(args.threads), "generate",
                           f"a {args.colour} {args.shape} moving {name}", "--checkpoint", args.checkpoint,
                           "--steps", "1", "--sampler", "ddim", "--seed", str(seed), "-o", out + "/"]
                if args.guidance is not None:
                    command += ["--guidance", str(args.guidance)]
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                frames = sorted(f for f in os.listdir(out) if f.endswith(".png"))
                first = centre(np.asarray(Image.open(os.path.join(out, frames[0])).convert("RGB")), channel)
                last = centre(np.asarray(Image.open(os.path.join(out, frames[-1])).convert("RGB")), channel)
                if first is None or last is None:
                    continue  # no trace of the colour: counts as no evidence either way
                mx, my = last[0] - first[0], last[1] - first[1]
                along.append(mx * ux + my * uy)
                across.append(-mx * uy + my * ux)
            if not along:
                print(f"{name:>11}  {'(no ' + args.colour + ' found)':>16}")
                continue
            along_all.append(np.mean(along))
            print(f"{name:>11}  {np.mean(along):16.2f}  {np.mean(across):17.2f}")
    if along_all:
        print(f"{'mean':>11}  {np.mean(along_all):16.2f}   (the clips travel 9-14 px)")


if __name__ == "__main__":
    main()
